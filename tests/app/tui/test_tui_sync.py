"""The file watcher: an edit made in another editor is merged into the tree as an `external` revision;
our own saves are not; a conflict with unsaved editor text is asked about; a deleted file is reported."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store
from app.tui.screens.dialogs import Choice

pytestmark = pytest.mark.asyncio


async def watching(pilot) -> None:
    await opened(pilot)
    await wait_for(pilot, lambda: pilot.app.watcher is not None and pilot.app.watcher.ready.is_set(),
                   what="the watcher")


def external_edit(path, old: str, new: str) -> None:
    """Another editor saves the file (atomically, as most do)."""
    tmp = path.with_name(path.name + ".other")
    tmp.write_text(path.read_text().replace(old, new))
    tmp.replace(path)


async def test_external_edit_appears_in_tree_and_history(make_app, essay, db_path):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        node = await select(pilot, "Finishing", "heading")
        external_edit(essay, "## Finishing", "## Finishing, at last")
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing, at last", what="the merge")
        assert "Finishing, at last" in str(app.outline._by_id[node.id].label)
        assert app.editor.text == "## Finishing, at last"
        assert app.status.saved  # the file and the tree agree
        await wait_for(pilot, lambda: any("changed on disk" in n.message for n in app._notifications),
                       what="the notice")  # a notification is a message of its own: it may come a moment later
    with Store(db_path) as store:
        [info] = store.documents()
        rev = store.history(info.id, node.id)[-1]
        assert (rev.author, rev.text) == ("external", "## Finishing, at last")


async def test_our_own_saves_are_not_external_edits(make_app, essay, db_path):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", "!", "escape", "ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
        await pilot.pause(1.0)  # give the watcher time to see the save
    with Store(db_path) as store:
        [info] = store.documents()
        assert "external" not in {r.author for r in store.history(info.id)}


async def test_conflict_with_unsaved_editor_text_asks(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" mine")  # typing, not yet recorded
        external_edit(essay, "## Finishing", "## Finishing theirs")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice) and laid_out(app.screen), what="the question")
        await pilot.click("#mine")
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing mine", what="my version")
        assert not app.status.saved  # the file still has theirs


def laid_out(screen) -> bool:
    """Both answers are on screen with a size (a click before layout lands nowhere)."""
    buttons = [screen.query("#mine"), screen.query("#theirs")]
    return all(b and b.first().region.width > 0 for b in buttons)


async def test_conflict_take_theirs(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" mine")
        external_edit(essay, "## Finishing", "## Finishing theirs")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice) and laid_out(app.screen), what="the question")
        await pilot.click("#theirs")
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing theirs", what="their version")
        assert app.editor.text == "## Finishing theirs"


async def test_deleted_file_is_reported_and_written_again(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        text = app.doc.to_markdown()
        essay.unlink()
        await wait_for(pilot, lambda: not app.status.saved, what="the unsaved mark")
        # a note is a message to the app: it may land a moment after the mark
        await wait_for(pilot, lambda: any("deleted" in n.message for n in app._notifications), what="the note")
        await pilot.press("ctrl+s")
        await wait_for(pilot, essay.exists, what="the file again")
    assert essay.read_text() == text


async def test_binary_content_written_elsewhere_is_refused(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        before = app.doc.to_markdown()
        essay.write_bytes(b"\x00\x01binary")
        await wait_for(pilot, lambda: any("ignored" in n.message for n in app._notifications), what="the refusal")
        assert app.doc.to_markdown() == before
