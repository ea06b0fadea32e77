"""Snapshots (pytest-textual-snapshot) of the features around the main screen: time travel, the dialogs,
the command palette and the app with no model. They are driven the way a writer drives the app (keys,
the palette), so they also check that a restructured TUI still shows the same thing.

Deterministic: fixed terminal size, the demo essay, a fresh store, times frozen (conftest), cursors
that do not blink, and every capture taken once the screen it shows has settled. Update them with
`pytest tests/app/tui/test_tui_snapshots_features.py --snapshot-update` after a deliberate change."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

SIZE = (160, 48)

# The export dialog shows the default path, which starts with pytest's tmp_path (it differs from run to
# run). The input shows the end of its value (the cursor is there), so the essay lives in a folder whose
# fixed name is longer than the input is wide: only that fixed tail is ever on screen.
LONG_FOLDER = "drafts-in-a-folder-whose-name-is-longer-than-the-export-dialog-input-is-wide-so-it-stays-fixed"


@pytest.fixture
def essay(essay, tmp_path):
    """The conftest's copy of the demo essay, moved into LONG_FOLDER (see above); make_app opens this one."""
    path = tmp_path / LONG_FOLDER / essay.name
    path.parent.mkdir()
    return essay.replace(path)


def steady_cursors(app) -> None:
    """Text cursors on the active screen stop blinking (shown, never half-way through a blink)."""
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


async def settled(pilot, start: str | None = None, kind: str | None = None) -> None:
    """The document is open (with its history) and, if given, the node starting with `start` selected."""
    await opened(pilot)
    steady_cursors(pilot.app)
    if start:
        await select(pilot, start, kind)
    await pilot.pause(0.4)  # the preview follows the selection


async def modal_open(pilot) -> None:
    """A screen was pushed over the main one and is laid out, its cursor steady."""
    await wait_for(pilot, lambda: len(pilot.app.screen_stack) >= 2, what="the new screen")
    await wait_for(pilot, lambda: pilot.app.screen.focused is not None, what="the new screen's focus")
    steady_cursors(pilot.app)
    await pilot.pause(0.2)


async def edit_text(pilot, start: str, kind: str, typed: str) -> None:
    """Select a node, edit it by hand (enter, type at the end, escape) and wait until it is recorded."""
    await select(pilot, start, kind)
    await pilot.press("enter", "end", *typed, "escape")
    await wait_for(pilot, lambda: typed in pilot.app.session.markdown, what="the edit")


async def palette_settled(pilot) -> None:
    """The command palette has gathered its hits (no busy indicator in the capture)."""
    await pilot.pause(0.2)
    await pilot.app.screen.workers.wait_for_complete()
    await pilot.pause(0.3)


def toasts(app) -> list[str]:
    """The texts of the notifications on screen."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def save_elsewhere(path, text: str) -> None:
    """Another editor saves the file (atomically, as most do)."""
    tmp = path.with_name(path.name + ".other")
    tmp.write_text(text)
    tmp.replace(path)


async def watched(pilot, essay) -> str:
    """Make sure the app watches the file: another editor changes a word out of view (the first paragraph)
    until the app merges it; the notice of the merge is clicked away. Returns the file's text now.

    The watcher starts a moment after the document opens and a save before that goes unseen, so the
    other editor saves again until it is seen; the same text each time, so once seen it is known and a
    second save of it is no second change."""
    text = essay.read_text().replace("kept going", "kept on going")
    for _ in range(30):
        save_elsewhere(essay, text)
        try:
            await wait_for(pilot, lambda: "kept on going" in pilot.app.session.markdown, timeout=1.0,
                           what="the merge")
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the app never saw the other editor's save")
    await wait_for(pilot, lambda: toasts(pilot.app), what="the notice of the merge")
    await pilot.click("Toast")
    await wait_for(pilot, lambda: not toasts(pilot.app), what="the notice gone")
    await pilot.pause(0.2)
    return text


class TestTimeTravel:
    @staticmethod
    async def three_change_sets(pilot) -> None:
        """Two hand edits and a deletion, near the top of the essay (so their effect is on screen)."""
        await settled(pilot)
        await edit_text(pilot, "Working at several scales", "heading", ", at once")
        await edit_text(pilot, "The outline", "heading", ", a promise")
        await select(pilot, "The sentence", "heading")
        await pilot.press("d")
        await modal_open(pilot)
        await pilot.press("enter")  # "Delete", the focused first button
        await wait_for(pilot, lambda: "### The sentence" not in pilot.app.session.markdown, what="the deletion")
        await pilot.pause(0.3)

    @staticmethod
    async def time_travel(pilot) -> str:
        """Open time travel (f3); returns its subtitle once the newest change set is shown."""
        await pilot.press("f3")
        await modal_open(pilot)
        await wait_for(pilot, lambda: "right after revision" in pilot.app.screen.sub_title,
                       what="the newest change set shown")
        return pilot.app.screen.sub_title

    def test_change_sets_after_edits(self, snap_compare, make_app):
        async def run_before(pilot):
            await self.three_change_sets(pilot)
            await self.time_travel(pilot)
            await pilot.pause(0.2)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)

    def test_the_document_at_an_older_revision(self, snap_compare, make_app):
        async def run_before(pilot):
            await self.three_change_sets(pilot)
            newest = await self.time_travel(pilot)
            await pilot.press("up", "up")  # the change set of the first edit: outline unedited, sentence there
            await wait_for(pilot, lambda: pilot.app.screen.sub_title != newest, what="the older revision")
            await pilot.pause(0.3)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


class TestDialogs:
    def test_instruction_dialog_on_a_sentence(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await settled(pilot, "Sentences carry rhythm", "sentence")
            await pilot.press("i")
            await modal_open(pilot)
            await pilot.press(*"shorter and plainer")
            await pilot.pause(0.2)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)

    def test_outline_premise_dialog(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await settled(pilot, "The outline", "heading")
            await pilot.press("o")
            await modal_open(pilot)
            await pilot.press(*"a field guide to revising long essays")
            await pilot.pause(0.2)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)

    def test_export_dialog_from_the_palette(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await settled(pilot, "Finishing", "heading")
            await pilot.press("ctrl+p")
            await modal_open(pilot)
            await pilot.press(*"Export")
            await palette_settled(pilot)
            await pilot.press("down", "enter")  # highlight the best hit, run it
            await wait_for(pilot, lambda: any(w.value.endswith("/essay-export.md")
                                              for w in pilot.app.screen.query("Input")), what="the export dialog")
            steady_cursors(pilot.app)
            await pilot.pause(0.3)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)

    def test_conflict_with_an_edit_made_elsewhere(self, snap_compare, make_app, essay):
        """Typing in a node (not yet recorded) while another editor changes that node in the file."""

        async def run_before(pilot):
            await settled(pilot, "Finishing", "heading")
            probe = await watched(pilot, essay)
            await pilot.press("enter", "end", *" mine")
            # at once: the typing is recorded by itself after a pause (2 s), and then there is no conflict
            save_elsewhere(essay, probe.replace("## Finishing", "## Finishing theirs"))
            await modal_open(pilot)

        assert snap_compare(make_app(watch=True), terminal_size=SIZE, run_before=run_before)


class TestCommandPalette:
    def test_palette_open(self, snap_compare, make_app, tiny_engine):
        app = make_app(engine=tiny_engine)
        assert len(app.COMMANDS) == 1  # one provider: the unfiltered list is sorted by title, stable

        async def run_before(pilot):
            await settled(pilot, "The outline", "heading")
            await pilot.press("ctrl+p")
            await modal_open(pilot)
            await palette_settled(pilot)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_palette_filtered_by_a_query(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await settled(pilot, "Sentences carry rhythm", "sentence")
            await pilot.press("ctrl+p")
            await modal_open(pilot)
            await pilot.press(*"rew")
            await palette_settled(pilot)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)


class TestNoModel:
    """Without a model the writer keeps writing; the status bar says so, and a writing action says why it
    is off. (A notice covers the right end of the status bar, so the status bar has captures of its own.)"""

    def test_status_bar_without_a_model(self, snap_compare, make_app):
        async def run_before(pilot):
            await settled(pilot, "The outline", "heading")

        assert snap_compare(make_app(load_engine=False), terminal_size=SIZE, run_before=run_before)

    def test_expand_without_a_model_says_why(self, snap_compare, make_app):
        async def run_before(pilot):
            await settled(pilot, "The outline", "heading")
            await pilot.press("e")
            await wait_for(pilot, lambda: any("writing actions are off" in t for t in toasts(pilot.app)),
                           what="the notice")
            await pilot.pause(0.3)

        assert snap_compare(make_app(load_engine=False), terminal_size=SIZE, run_before=run_before)

    @staticmethod
    def missing_model_app(make_app, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)  # the relative folder surely does not exist (and the notice reads the same)
        return make_app(model_dir="no-such-model", load_engine=True, backend="torch", device="cpu")

    @staticmethod
    async def load_failed(pilot) -> None:
        await settled(pilot, "The outline", "heading")
        await wait_for(pilot, lambda: any("no model at" in t for t in toasts(pilot.app)), timeout=60,
                       what="the failed load")  # it imports torch first

    def test_a_model_folder_that_does_not_exist(self, snap_compare, make_app, tmp_path, monkeypatch):
        async def run_before(pilot):
            await self.load_failed(pilot)
            await pilot.press("e")
            await wait_for(pilot, lambda: any("writing actions are off" in t for t in toasts(pilot.app)),
                           what="the notice")
            await pilot.pause(0.3)

        app = self.missing_model_app(make_app, tmp_path, monkeypatch)
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_status_bar_after_the_model_failed_to_load(self, snap_compare, make_app, tmp_path, monkeypatch):
        async def run_before(pilot):
            await self.load_failed(pilot)
            await pilot.click("Toast")  # the writer clicks the notice away
            await wait_for(pilot, lambda: not toasts(pilot.app), what="the notice gone")
            await pilot.pause(0.3)

        app = self.missing_model_app(make_app, tmp_path, monkeypatch)
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
