"""External edits in the real TUI (Pilot, a real store, the real watcher): a change made elsewhere is a
three-way merge that never reverts the writer's recorded but unsaved edits; the same node changed on
both sides asks, and "Keep my edit" keeps it however long the writer takes to answer; a save merges a
change the watcher missed; a watcher that stops says so."""

from __future__ import annotations

import shutil

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store
from app.tui.screens.dialogs import Choice
from app.tui.widgets.editor import IDLE_SECONDS

pytestmark = pytest.mark.asyncio


def other_editor(path, old: str, new: str) -> None:
    """Another editor saves the file (atomically, as most do)."""
    text = path.read_text()
    assert old in text
    tmp = path.with_name(path.name + ".other")
    tmp.write_text(text.replace(old, new))
    tmp.replace(path)


async def watching(pilot) -> None:
    await opened(pilot)
    await wait_for(pilot, lambda: pilot.app.watcher is not None and pilot.app.watcher.ready.is_set(),
                   what="the watcher")


def asked(app) -> bool:
    screen = app.screen
    return isinstance(screen, Choice) and all(screen.query(b) and screen.query(b).first().region.width > 0
                                              for b in ("#mine", "#theirs"))


async def record_edit(pilot, start: str, kind: str, typed: str):
    """Type `typed` at the end of the node and leave the editor: recorded, not saved."""
    node = await select(pilot, start, kind)
    await pilot.press("enter", "end", *typed, "escape")
    await wait_for(pilot, lambda: pilot.app.doc.node(node.id).text.endswith(typed), what="the recorded edit")
    return node


async def test_an_external_edit_elsewhere_keeps_recorded_unsaved_edits(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        mine = await record_edit(pilot, "Finishing", "heading", " mine")
        assert not app.status.saved
        other = next(n for n in app.doc.walk() if n.kind.value == "heading" and n.id != mine.id
                     and n.parent is not None)
        other_editor(essay, other.text, other.text + " theirs")
        await wait_for(pilot, lambda: app.doc.node(other.id).text == other.text + " theirs", what="the merge")
        assert app.doc.node(mine.id).text.endswith("Finishing mine")
        assert not isinstance(app.screen, Choice)
        await wait_for(pilot, lambda: any("merged 1 node" in n.message for n in app._notifications),
                       what="the note")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
    text = essay.read_text()
    assert "Finishing mine" in text and other.text + " theirs" in text


async def test_a_recorded_edit_of_the_same_node_asks_too(make_app, essay):
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        node = await record_edit(pilot, "Finishing", "heading", " mine")
        other_editor(essay, "## Finishing", "## Finishing theirs")
        await wait_for(pilot, lambda: asked(app), what="the question")
        await pilot.click("#mine")
        await wait_for(pilot, lambda: not isinstance(app.screen, Choice), what="the answer")
        await pilot.pause(0.5)
        assert app.doc.node(node.id).text == "## Finishing mine"
        await wait_for(pilot, lambda: any("kept your version of 1 node" in n.message for n in app._notifications),
                       what="the note")
    with Store(app.options.db_path) as store:
        [info] = store.documents()
        texts = [(r.author, r.text) for r in store.history(info.id, node.id)]
    assert ("external", "## Finishing theirs") in texts and texts[-1] == ("writer", "## Finishing mine")


async def test_keep_my_edit_keeps_it_after_a_slow_answer(make_app, essay):
    """The writer reads the question for longer than the editor's idle time before answering."""
    app = make_app(watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" mine")  # typing, not yet recorded
        other_editor(essay, "## Finishing", "## Finishing theirs")
        await wait_for(pilot, lambda: asked(app), what="the question")
        await pilot.pause(IDLE_SECONDS + 0.8)
        await pilot.click("#mine")
        await wait_for(pilot, lambda: app.doc.node(node.id).text == "## Finishing mine", what="my version")
        await pilot.pause(0.5)
        assert app.doc.node(node.id).text == "## Finishing mine"


async def test_a_save_merges_a_change_the_watcher_never_saw(make_app, essay, db_path):
    app = make_app(watch=False)  # as if the watcher missed it (network folder, inotify limits)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await record_edit(pilot, "Finishing", "heading", " mine")
        other = next(n for n in app.doc.walk() if n.kind.value == "heading" and n.parent is not None
                     and "Finishing" not in n.text)
        other_editor(essay, other.text, other.text + " theirs")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
        assert app.doc.node(other.id).text == other.text + " theirs"
    text = essay.read_text()
    assert "Finishing mine" in text and other.text + " theirs" in text
    with Store(db_path) as store:
        [info] = store.documents()
        assert ("external", other.text + " theirs") in [(r.author, r.text) for r in store.history(info.id)]


async def test_a_watcher_whose_folder_goes_away_says_so_and_saving_still_merges(make_app, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / "essay.md"
    shutil.copyfile(tmp_path / "essay.md", path)
    app = make_app(path, watch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await watching(pilot)
        await record_edit(pilot, "Finishing", "heading", " mine")
        folder.rename(tmp_path / "docs-old")  # the watch goes with the old folder
        folder.mkdir()
        shutil.copyfile(tmp_path / "docs-old" / "essay.md", path)
        await wait_for(pilot, lambda: any("not watching essay.md" in n.message for n in app._notifications),
                       what="the watcher's note")
        other = next(n for n in app.doc.walk() if n.kind.value == "heading" and n.parent is not None
                     and "Finishing" not in n.text)
        other_editor(path, other.text, other.text + " theirs")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
    text = path.read_text()
    assert "Finishing mine" in text and other.text + " theirs" in text
