"""Document-level undo / redo in the editor: ctrl+z and ctrl+y outside the text editor undo and redo the
document's last change (a hand edit, an accepted candidate) through the store, as new revisions."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store
from app.tui.screens.dialogs import Choice
from app.tui.widgets.editor import NodeEditor

pytestmark = pytest.mark.asyncio


def restores(db_path) -> list:
    with Store(db_path) as store:
        [info] = store.documents()
        return [c for c in store.changes(info.id) if c.operation == "restore"]


async def test_ctrl_z_undoes_a_hand_edit_and_ctrl_y_redoes_it(make_app, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        original = app.doc.to_markdown()
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" for now", "escape")  # typed, then back to the outline
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing for now"
                       and not app.session.recording, what="the edit")
        edited = app.doc.to_markdown()
        assert not isinstance(app.focused, NodeEditor)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: app.doc.to_markdown() == original, what="the undo")
        assert app.editor.text == "## Finishing" and "Finishing for now" not in str(app.outline._by_id[node.id].label)
        await wait_for(pilot, lambda: any("undid your edit" in n.message for n in app._notifications),
                       what="the note")
        await pilot.press("ctrl+y")
        await wait_for(pilot, lambda: app.doc.to_markdown() == edited, what="the redo")
        await pilot.press("ctrl+z")  # the undo of the redo of the undo
        await wait_for(pilot, lambda: app.doc.to_markdown() == original, what="the second undo")
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: any("nothing to undo" in n.message for n in app._notifications),
                       what="nothing left to undo")
        await wait_for(pilot, lambda: not app.session.recording, what="the store")
    assert [next(iter(set(c.params) - {"from_revision"})) for c in restores(db_path)] == ["undo", "redo", "undo"]


async def test_ctrl_z_in_the_editor_stays_the_editors_own(make_app, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *"!!")
        assert app.editor.text == "## Finishing!!"
        await pilot.press("ctrl+z")  # the text area's undo of the typing
        await wait_for(pilot, lambda: app.editor.text == "## Finishing", what="the editor's undo")
        assert restores(db_path) == []


async def test_ctrl_z_undoes_an_accepted_expand(make_app, tiny_engine, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        original = app.doc.to_markdown()
        await select(pilot, "Working at several scales", "heading")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="add or replace")
        await pilot.click("#replace")
        await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                       and app.generation.texts, timeout=60, what="the candidates")
        app.generation.texts = ["One short body instead."]
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the confirm")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "One short body instead." in app.doc.to_markdown(), what="the accept")
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: app.doc.to_markdown() == original, what="the undo")
        assert "### The outline" in app.doc.to_markdown()
        assert "accepted candidate" not in str(app.candidates.border_subtitle)
