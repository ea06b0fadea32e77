"""The main screen fits the terminal: panels in shares of the width, the side panel hidden under 120
columns (f4 shows it), ctrl+b hides the outline, f10 is focus mode; the status bar says when history is off
and why for as long as it is; notifications fit. Pilot tests and snapshots at 80x24 and 160x48."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

SMALL, LARGE = (80, 24), (160, 48)


def shown(widget) -> bool:
    return widget.display and widget.region.width > 0


async def ready(pilot, start: str | None = None, kind: str | None = None) -> None:
    await opened(pilot)
    pilot.app.editor.cursor_blink = False
    if start:
        await select(pilot, start, kind)
    await pilot.pause(0.4)


@pytest.mark.asyncio
async def test_at_80_columns_the_editor_has_most_of_the_width_and_f4_shows_the_preview(make_app):
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot, "The outline", "heading")
        assert not shown(app.side) and shown(app.outline)
        assert app.editor.region.width >= 56  # today: 2 columns
        assert app.outline.region.width >= 20  # the outline stays readable
        await pilot.press("f4")
        await wait_for(pilot, lambda: shown(app.side), what="the side panel")
        assert app.side.active == "preview"
        assert app.editor.region.width >= 28 and app.side.region.width >= 30
        await pilot.press("f4")
        await wait_for(pilot, lambda: not shown(app.side), what="the side panel hidden")
        assert app.editor.region.width >= 56


@pytest.mark.asyncio
async def test_panels_take_shares_of_a_wide_terminal(make_app):
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        assert shown(app.side) and shown(app.outline)
        widths = app.outline.region.width, app.editor.region.width, app.side.region.width
        assert sum(widths) == 160 and min(widths) >= 36
        await pilot.resize_terminal(240, 48)
        await wait_for(pilot, lambda: app.side.region.width > widths[2] + 20, what="the side panel to grow")
        assert app.editor.region.width > widths[1] + 20 and app.outline.region.width > widths[0]


@pytest.mark.asyncio
async def test_ctrl_b_hides_and_shows_the_outline_and_the_focus_follows(make_app):
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot, "The outline", "heading")
        before = app.editor.region.width
        assert app.focused is app.outline
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: not shown(app.outline), what="the outline hidden")
        assert app.editor.region.width > before
        await wait_for(pilot, lambda: app.focused is app.editor, what="the focus on the editor")
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: shown(app.outline), what="the outline back")


@pytest.mark.asyncio
async def test_focus_mode_leaves_the_editor_alone_and_esc_leaves_it(make_app):
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot, "The outline", "heading")
        await pilot.press("f10")
        await wait_for(pilot, lambda: not shown(app.outline), what="focus mode")
        assert not shown(app.side) and not shown(app.candidates)
        assert app.focused is app.editor and app.editor.region.width == 160
        await pilot.press(*"Hi ")  # the writer types in focus mode
        await wait_for(pilot, lambda: app.editor.text.startswith("Hi "), what="the typing")
        await pilot.press("escape")
        await wait_for(pilot, lambda: shown(app.outline) and shown(app.side), what="the panels back")
        assert app.focused is app.outline
        await wait_for(pilot, lambda: "Hi " in app.session.markdown, what="the edit recorded")


@pytest.mark.asyncio
async def test_a_panel_the_writer_hid_stays_hidden_when_the_terminal_grows(make_app):
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.resize_terminal(*LARGE)
        await wait_for(pilot, lambda: shown(app.side), what="the side panel at 160 columns")
        await pilot.press("f4")  # shows the preview already: hides the panel
        await wait_for(pilot, lambda: not shown(app.side), what="the side panel hidden")
        await pilot.resize_terminal(200, 48)
        await pilot.pause(0.3)
        assert not shown(app.side)
        await pilot.press("f2")  # a view's key shows it again, on that view
        await wait_for(pilot, lambda: shown(app.side) and app.side.active == "history", what="the history")


@pytest.mark.asyncio
async def test_the_status_bar_says_history_is_off_and_why_while_it_is(essay, tmp_path):
    from app.tui.app import ScribaApp

    not_a_db = tmp_path / "broken.db"
    not_a_db.write_bytes(b"this is not a database" * 100)
    app = ScribaApp(essay, db_path=not_a_db, load_engine=False, watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: app.session is not None and not app.session.provisional,
                       what="the document", timeout=20)
        await wait_for(pilot, lambda: "history off" in app.status.render().plain, what="the status")
        assert "not a scriba database" in app.status.history_off
        assert "✓ saved" in app.status.render().plain
        await select(pilot, "The outline", "heading")
        await pilot.press("enter", "end", *" kept", "escape")
        await wait_for(pilot, lambda: " kept" in app.session.markdown, what="the edit")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.session.saved, what="the save")
        await pilot.pause(0.3)
        line = app.status.render().plain
        assert "✓ saved" in line and "history off: " in line and len(line) <= SMALL[0]


@pytest.mark.asyncio
async def test_a_long_notice_fits_and_leaves_the_status_bar_in_view(make_app):
    app = make_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        message = "the database is locked by another program: kept in memory, not in history yet; " * 2
        app.notify(message.strip(), severity="warning", timeout=30)
        await wait_for(pilot, lambda: app.screen.query("Toast"), what="the notice")
        await pilot.pause(0.3)
        toast = app.screen.query_one("Toast")
        assert toast.region.width >= 56  # today: half the screen, 40 columns
        assert toast.region.right <= SMALL[0] and toast.region.y >= 0
        assert toast.region.bottom <= app.status.region.y  # the status bar stays readable


# ---------------------------------------------------------------------------------------- snapshots
class TestLayoutSnapshots:
    def test_main_screen_at_80x24(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "The outline", "heading")

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SMALL, run_before=run_before)

    def test_main_screen_at_160x48(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "The outline", "heading")

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=LARGE, run_before=run_before)

    def test_focus_mode_at_80x24(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "A paragraph is the smallest", "paragraph")
            await pilot.press("f10")
            await wait_for(pilot, lambda: not pilot.app.outline.display, what="focus mode")
            await pilot.pause(0.3)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SMALL, run_before=run_before)

    def test_preview_shown_at_80x24(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "The outline", "heading")
            await pilot.press("f4")
            await wait_for(pilot, lambda: pilot.app.side.display, what="the preview")
            await pilot.pause(0.5)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SMALL, run_before=run_before)
