"""The help screen (F1, ? outside the editor): every binding, from the registry and the BINDINGS, with the
writer's keymap applied; snapshots at 80x24 and 160x48."""

from __future__ import annotations

import io

import pytest
from tui_helpers import opened, select, wait_for

from app import settings
from app.tui.screens.help import show_keys
from engine.actions import ACTIONS

SMALL, LARGE = (80, 24), (160, 48)


def help_text(app) -> str:
    """Everything the help screen lists, as plain text lines (its tables, whatever part is in view)."""
    from rich.console import Console

    from app.tui.screens.help import HelpScreen

    screen = app.screen
    assert isinstance(screen, HelpScreen)
    console = Console(width=400, file=io.StringIO(), color_system=None)
    lines = []
    for static in screen.query(".help-section"):
        with console.capture() as capture:
            console.print(static.content)
        lines += [" ".join(line.split()) for line in capture.get().splitlines()]
    return "\n".join(lines)


async def open_help(pilot, key: str = "f1") -> str:
    await pilot.press(key)
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen", what="the help screen")
    await pilot.pause(0.2)
    return help_text(pilot.app)


@pytest.mark.asyncio
async def test_f1_lists_every_writing_action_and_every_binding(make_app):
    from app.tui.app import ScribaApp
    from app.tui.screens.main import MainScreen
    from app.tui.widgets.candidates import CandidatesPanel
    from app.tui.widgets.history import RevisionList

    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        text = await open_help(pilot)
        for entry in ACTIONS.values():
            assert entry.title in text and entry.help in text and entry.name in text
        rows = text.split("\n")
        for entry in ACTIONS.values():
            assert any(row.startswith(f"{entry.key} {entry.title}:") and row.endswith(entry.name) for row in rows)
        for cls in (ScribaApp, MainScreen, RevisionList, CandidatesPanel):
            for binding in cls.BINDINGS:  # 1-9 (one key_display) are one row, "1-9 Accept"
                keys = binding.key_display or show_keys(binding.key)
                does = binding.description if not binding.key_display else ""
                assert any(row.startswith(f"{keys} {does}") for row in rows), binding
        for keys in ("f1 Help", "ctrl+b Outline", "f10 Focus", "1-9 Accept", "ctrl+, / f9 Settings"):
            assert any(row.startswith(keys) for row in rows), keys
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main, what="the help closed")


@pytest.mark.asyncio
async def test_question_mark_opens_help_in_the_outline_and_is_typed_in_the_editor(make_app):
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await select(pilot, "The outline", "heading")
        await open_help(pilot, "question_mark")
        await pilot.press("question_mark")  # and closes it
        await wait_for(pilot, lambda: app.screen is app.main, what="the help closed")
        await pilot.press("enter", "end", "question_mark")
        await wait_for(pilot, lambda: app.editor.text.endswith("?"), what="the typed ?")
        assert app.screen is app.main


@pytest.mark.asyncio
async def test_a_keymap_override_moves_the_key_and_help_shows_where(make_app):
    settings.save(settings.Settings(keymap={"toggle_outline": "f6", "expand": "E"}))
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        text = await open_help(pilot)
        assert "f6 Outline" in text and "ctrl+b" not in text and "E Expand section" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main, what="the help closed")
        await pilot.press("f6")
        await wait_for(pilot, lambda: not app.outline.display, what="the outline hidden by f6")


class TestHelpSnapshots:
    @staticmethod
    async def run_before(pilot):
        await opened(pilot)
        await open_help(pilot)
        await pilot.pause(0.3)

    def test_help_at_80x24(self, snap_compare, make_app):
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.run_before)

    def test_help_at_160x48(self, snap_compare, make_app):
        assert snap_compare(make_app(), terminal_size=LARGE, run_before=self.run_before)
