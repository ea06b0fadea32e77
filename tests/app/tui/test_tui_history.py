"""The history panel (node / whole document), the diff against now, restore, and time travel."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store
from app.tui.screens.time_travel import TimeTravelScreen

pytestmark = pytest.mark.asyncio


async def edit_heading(pilot, start: str, suffix: str):
    node = await select(pilot, start, "heading")
    pilot.app.editor.focus()
    await pilot.press("end", *suffix, "escape")
    await wait_for(pilot, lambda: pilot.app.doc.node(node.id).text.endswith(suffix), what="the edit")
    return node


async def test_history_lists_node_revisions_with_a_diff_and_restores(make_app, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        node = await edit_heading(pilot, "Finishing", " well")
        await pilot.press("f2")
        panel = app.history_panel
        await wait_for(pilot, lambda: len(panel.revisions) == 2, what="two revisions of the heading")
        assert [r.author for r in panel.revisions] == ["writer", "import"]  # newest first
        await pilot.press("down")  # the import revision: its diff against now
        diff = str(panel.query_one("#history-diff").render())
        assert "Finishing" in diff and "well" in diff
        await pilot.press("R")
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing", what="the restore")
        await wait_for(pilot, lambda: len(panel.revisions) == 3, what="the restore revision")
        assert panel.revisions[0].operation == "restore"
        await pilot.press("t")  # the whole document
        await wait_for(pilot, lambda: len(panel.revisions) > 10, what="document history")
    with Store(db_path) as store:
        [info] = store.documents()
        assert store.current(info.id)[0].node(node.id).text == "## Finishing"


async def test_time_travel_shows_and_exports_an_earlier_state(make_app, essay, tmp_path):
    original = essay.read_text()
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await edit_heading(pilot, "Finishing", " later")
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, TimeTravelScreen), what="the time-travel view")
        screen = app.screen
        assert len(screen.sets) == 2
        await pilot.press("up")  # the import
        await wait_for(pilot, lambda: screen.query_one("#time-travel-text").text == original, what="the old state")
        target = tmp_path / "then.md"
        await pilot.press("x")
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, what="the export")
        assert target.read_text() == original
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TimeTravelScreen), what="back")
        assert "## Finishing later" in app.doc.to_markdown()


async def test_time_travel_restore_brings_the_whole_document_back(make_app, essay):
    original = essay.read_text()
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await edit_heading(pilot, "Finishing", " later")
        await edit_heading(pilot, "The outline", " first")
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, TimeTravelScreen), what="the time-travel view")
        await pilot.press("home", "R")
        await wait_for(pilot, lambda: app.doc.to_markdown() == original, what="the restore")
