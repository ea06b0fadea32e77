"""Opening, resuming, saving, exporting and refusing files."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store

pytestmark = pytest.mark.asyncio


async def test_open_shows_the_tree_and_imports(make_app, essay, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        labels = [str(tn.label) for tn in app.outline._by_id.values()]
        assert any("Writing Long Documents" in label for label in labels)
        assert any(label.startswith("§ H3 The outline") for label in labels)
        assert any(label.startswith("•") for label in labels)  # the list
        assert any(label.startswith("❝") for label in labels)  # the quote
        assert app.editor.text == "# Writing Long Documents"
        assert app.status.saved and app.status.document == "essay.md"
    with Store(db_path) as store:
        [info] = store.documents()
        assert store.current(info.id)[0].to_markdown() == essay.read_text()
        assert {r.author for r in store.history(info.id)} == {"import"}


async def test_reopen_resumes_and_merges_an_edit_made_while_closed(make_app, essay, db_path):
    async with make_app().run_test() as pilot:
        await opened(pilot)
    essay.write_text(essay.read_text().replace("## Finishing", "## Finishing the work"))
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        assert any(n.text == "## Finishing the work" for n in app.doc.walk())
    with Store(db_path) as store:
        [info] = store.documents()  # the same document, not a second import
        authors = [r.author for r in store.history(info.id)]
        assert authors[-1] == "external"


async def test_save_is_atomic_and_marks_saved(make_app, essay):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Finishing")
        await pilot.press("enter", "end", "!", "escape")
        await wait_for(pilot, lambda: not app.status.saved, what="unsaved mark")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="saved mark")
        assert "## Finishing!\n" in essay.read_text()
        assert not [p for p in essay.parent.iterdir() if p.name.endswith(".tmp")]


async def test_quit_autosaves(make_app, essay):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Finishing")
        await pilot.press("enter", "end", "?")
        await pilot.press("ctrl+q")
    assert "## Finishing?\n" in essay.read_text()


async def test_export_writes_another_file(make_app, essay, tmp_path):
    app = make_app()
    target = tmp_path / "out" / "copy.md"
    async with app.run_test() as pilot:
        await opened(pilot)
        app.main.action_export()
        await pilot.pause()
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, what="the export")
    assert target.read_text() == essay.read_text()


async def test_missing_file_is_created_on_save(make_app, tmp_path):
    path = tmp_path / "new.md"
    app = make_app(path)
    async with app.run_test() as pilot:
        await opened(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, path.exists, what="the save")
        assert path.read_text() == ""
        app.main.action_new_heading()  # an empty file is started with a heading (issue 13)
        await pilot.press("escape")
        assert app.doc.to_markdown() == "# New section\n"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: path.read_text() == "# New section\n", what="the second save")


async def test_unsaved_changes_of_last_session_are_kept_not_overwritten(make_app, essay, db_path):
    app = make_app(autosave=False)
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", "!", "escape")
        await wait_for(pilot, lambda: not app.status.saved, what="the unsaved mark")
        await pilot.press("ctrl+q")  # no autosave: the file keeps the old text
    assert "## Finishing!\n" not in essay.read_text()
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        assert "## Finishing!\n" in app.doc.to_markdown() and not app.status.saved
        await wait_for(pilot, lambda: any("not saved last time" in n.message for n in app._notifications),
                       what="the notice")  # a notification is a message of its own: it may come a moment later
    with Store(db_path) as store:
        [info] = store.documents()
        assert "external" not in {r.author for r in store.history(info.id)}
