"""The inspect view (entropy colours, chunk boundaries) and the command palette holding every action."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.tui.commands import COMMANDS
from app.tui.widgets.inspect_view import BOUNDARY

pytestmark = pytest.mark.asyncio


async def test_inspect_colours_the_selected_text(make_app, tiny_engine):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        node = await select(pilot, "Sentences carry rhythm", "sentence")
        await pilot.press("v")
        view = app.inspect_view
        await wait_for(pilot, lambda: "entropy" in str(view.query_one("#inspect-summary").render()),
                       what="the inspection")
        assert app.side.active == "inspect"
        shown = view.query_one("#inspect-text").render()
        assert shown.plain.replace(BOUNDARY, "") == node.text
        assert BOUNDARY in shown.plain  # the random model still chunks
        assert len(shown.spans) >= len(node.text)  # a colour per character (and the marks)


async def test_every_app_action_is_in_the_palette(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        for _, _, action in COMMANDS:  # run on the main screen, "app." ones on the app
            target, name = (app, action[4:]) if action.startswith("app.") else (app.main, action)
            assert hasattr(target, f"action_{name.split('(')[0]}"), action
        from app.tui.widgets.candidates import CandidatesPanel
        from app.tui.widgets.outline import OutlineTree

        bound = {b.action.removeprefix("app.").removeprefix("screen.").split("(")[0]
                 for cls in (OutlineTree, CandidatesPanel, type(app), type(app.main)) for b in cls.BINDINGS}
        listed = {a.removeprefix("app.").split("(")[0] for _, _, a in COMMANDS}
        # edit: the outline's enter, which the palette runs as focus_editor ("Edit the selected node")
    assert bound - listed <= {"open_node", "close_node", "move", "accept_highlighted", "escape", "edit"}


async def test_palette_runs_a_command(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        dark = app.current_theme.dark
        await pilot.press("ctrl+p")
        await pilot.press(*"toggle light")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_theme.dark != dark, what="the theme toggle")
