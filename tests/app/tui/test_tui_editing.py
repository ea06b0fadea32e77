"""Hand editing: one writer revision per pause (idle, blur, another node), never per keystroke; structure
edits (insert, move, delete)."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store
from app.tui.widgets import editor as editor_module

pytestmark = pytest.mark.asyncio


def writer_changes(db_path):
    with Store(db_path) as store:
        [info] = store.documents()
        return sorted({r.change_id for r in store.history(info.id) if r.author == "writer"})


async def test_typing_records_one_revision_when_leaving_the_editor(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" for now")
        assert writer_changes(db_path) == []  # nothing per keystroke
        await pilot.press("escape")  # blur: the edit goes in
        await wait_for(pilot, lambda: len(writer_changes(db_path)) == 1, what="the writer revision")
        assert app.doc.node(node.id).text == "## Finishing for now"
        assert "Finishing for now" in str(app.outline._by_id[node.id].label)


async def test_an_idle_pause_records_the_edit(make_app, db_path, monkeypatch):
    monkeypatch.setattr(editor_module, "IDLE_SECONDS", 0.2)
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Sentences carry rhythm", "sentence")
        await pilot.press("enter", "end", *" Really")
        await wait_for(pilot, lambda: len(writer_changes(db_path)) == 1, what="the idle revision")
        assert app.focused is app.editor  # still typing: the editor keeps focus
        # a second sentence now: the editor moves up to the paragraph, cursor where the writer was
        para = app.doc.node(node.id).parent
        assert app.editor.node_id == para.id and app.selected_id == para.id
        assert para.text.startswith("Sentences carry rhythm as well as meaning. Really Vary")
        assert app.editor.cursor_location == (0, len("Sentences carry rhythm as well as meaning. Really"))
        await pilot.press(*" much")
        await wait_for(pilot, lambda: "Really much" in para.text and not app.editor.dirty, what="the second revision")
        assert len(writer_changes(db_path)) >= 2
        assert para.text.startswith("Sentences carry rhythm as well as meaning. Really much Vary")


async def test_moving_to_another_node_records_the_edit(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        app.editor.focus()
        await pilot.press("end", "!")
        app.outline.select_id(app.doc.root.children[0].id)
        await wait_for(pilot, lambda: len(writer_changes(db_path)) == 1, what="the revision")
        assert app.doc.node(node.id).text == "## Finishing!"


async def test_paragraph_edit_splitting_into_two_paragraphs(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        para = await select(pilot, "Sentences carry rhythm", "paragraph")
        app.editor.focus()
        app.editor.load_text("First part.\n\nSecond part.")
        app.editor.post_message(app.editor.Changed(app.editor))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "First part.\n\nSecond part.\n" in app.doc.to_markdown(), what="the split")
        assert para.id in app.doc  # the edited paragraph keeps its id


async def test_insert_move_delete(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "A document is finished", "paragraph")
        await pilot.press("n")  # a new paragraph after it, and the editor on it
        await wait_for(pilot, lambda: "New paragraph." in app.doc.to_markdown(), what="the insert")
        new = app.selected_id
        assert app.doc.node(new).text == "New paragraph."
        app.outline.focus()
        await pilot.press("ctrl+up")
        await wait_for(pilot, lambda: app.doc.to_markdown().index("New paragraph.") <
                       app.doc.to_markdown().index("A document is finished"), what="the move")
        app.outline.select_id(new)
        await pilot.pause()
        await pilot.press("d")
        await pilot.press("enter")  # confirm
        await wait_for(pilot, lambda: new not in app.doc, what="the delete")
        await pilot.press("h")
        await wait_for(pilot, lambda: "## New section" in app.doc.to_markdown(), what="the new heading")
    with Store(db_path) as store:
        [info] = store.documents()
        ops = [r.operation for r in store.history(info.id) if r.author == "writer"]
        assert {"insert", "move", "delete"} <= set(ops)
