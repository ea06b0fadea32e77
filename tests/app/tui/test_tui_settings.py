"""Settings in the editor: read at start and applied (the request the engine gets, the theme, autosave),
edited on the settings screen (f9 / ctrl+,) and kept across a restart; a bad file or a bad value in the
form is a one-line message and loses nothing. Snapshots at 80x24 and 160x48."""

from __future__ import annotations

import pytest
from tui_helpers import expand, opened, select, wait_for

from app import settings

SMALL, LARGE = (80, 24), (160, 48)


class RecordingEngine:
    """The real engine; remembers each request it is given."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.requests = []

    def generate(self, request, on_update=None, cancel=None):
        self.requests.append(request)
        return self.engine.generate(request, on_update, cancel)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def from_settings(make_app, **kwargs):
    """The app as the CLI starts it: sampling and autosave from the settings file, nothing given."""
    return make_app(n_candidates=None, max_bytes=None, **kwargs)


async def open_settings(pilot):
    from app.tui.screens.settings import SettingsScreen

    await pilot.press("f9")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen), what="the settings screen")
    await pilot.pause(0.2)
    return pilot.app.screen


def toasts(app) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


async def set_input(pilot, selector: str, value: str) -> None:
    field = pilot.app.screen.query_one(selector)
    field.focus()
    field.value = ""
    await pilot.press(*value) if value else None


@pytest.mark.asyncio
async def test_a_change_is_kept_across_a_restart_and_changes_the_request(make_app, tiny_engine):
    app = from_settings(make_app)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await open_settings(pilot)
        await set_input(pilot, "#set-candidates", "4")
        await set_input(pilot, "#set-temperature", "0.5")
        await set_input(pilot, "#set-top_p", "0.9")
        await set_input(pilot, "#set-cap-sentence", "17")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main, what="the settings saved")
    kept, problem = settings.load()
    assert problem is None
    assert (kept.candidates, kept.temperature, kept.top_p, kept.caps) == (4, 0.5, 0.9, {"sentence": 17})

    engine = RecordingEngine(tiny_engine)
    again = from_settings(make_app, engine=engine)
    async with again.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await select(pilot, "Sentences carry rhythm", "sentence")
        await pilot.press("r")
        await wait_for(pilot, lambda: engine.requests, what="the request")
        request = engine.requests[0]
        assert (request.n, request.temperature, request.top_p, request.max_bytes) == (4, 0.5, 0.9, 17)
        await wait_for(pilot, lambda: not again.generation.running, what="the candidates", timeout=60)


@pytest.mark.asyncio
async def test_settings_apply_at_once_in_the_running_app(make_app, tiny_engine):
    engine = RecordingEngine(tiny_engine)
    app = from_settings(make_app, engine=engine)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await open_settings(pilot)
        await set_input(pilot, "#set-candidates", "1")
        await set_input(pilot, "#set-cap-section", "9")
        await pilot.click("#settings-save")
        await wait_for(pilot, lambda: app.screen is app.main, what="the settings saved")
        await select(pilot, "The sentence", "heading")
        await expand(pilot)
        await wait_for(pilot, lambda: engine.requests, what="the request")
        assert (engine.requests[0].n, engine.requests[0].max_bytes) == (1, 9)
        await wait_for(pilot, lambda: not app.generation.running, what="the candidate", timeout=60)


@pytest.mark.asyncio
async def test_a_bad_value_in_the_form_is_named_and_nothing_typed_is_lost(make_app):
    app = from_settings(make_app)
    async with app.run_test(size=LARGE, notifications=True) as pilot:
        await opened(pilot)
        screen = await open_settings(pilot)
        await set_input(pilot, "#set-candidates", "5")
        await set_input(pilot, "#set-temperature", "warm")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("temperature must be a number" in t for t in toasts(app)),
                       what="the message")
        assert app.screen is screen  # still open, with what was typed
        assert screen.query_one("#set-temperature").value == "warm"
        assert screen.query_one("#set-candidates").value == "5"
        assert not settings.path().exists()  # nothing written
        keymap = screen.query_one("#set-keymap")
        keymap.focus()
        keymap.text = "no_such_binding = f7"
        await set_input(pilot, "#set-temperature", "0.7")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("no binding 'no_such_binding'" in t for t in toasts(app)),
                       what="the keymap message")
        assert app.screen is screen and not settings.path().exists()


@pytest.mark.asyncio
async def test_a_bad_settings_file_is_one_line_and_the_defaults(make_app):
    path = settings.path()
    path.parent.mkdir(parents=True)
    path.write_text("candidates = = 3\n")
    app = from_settings(make_app)
    async with app.run_test(size=LARGE, notifications=True) as pilot:
        await opened(pilot)
        await wait_for(pilot, lambda: any("not valid TOML" in t for t in toasts(app)), what="the message")
        assert app.options.sampling.n == settings.Settings().candidates
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")  # a change is kept, and the writer's bad file beside it
        await wait_for(pilot, lambda: settings.load()[0].theme == "textual-light", what="the theme kept")
        assert path.with_name("config.toml.bad").read_text() == "candidates = = 3\n"


@pytest.mark.asyncio
async def test_the_theme_chosen_with_ctrl_t_is_kept_for_the_next_run(make_app):
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not app.current_theme.dark, what="the light theme")
    again = make_app()
    async with again.run_test(size=LARGE) as pilot:
        await opened(pilot)
        assert again.theme == "textual-light"


@pytest.mark.asyncio
async def test_autosave_off_in_the_settings_leaves_the_file_unsaved_on_quit(make_app, essay):
    settings.save(settings.Settings(autosave=False))
    before = essay.read_text()
    app = from_settings(make_app)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await select(pilot, "The outline", "heading")
        await pilot.press("enter", "end", *" unsaved", "escape")
        await wait_for(pilot, lambda: " unsaved" in app.session.markdown, what="the edit")
        await app.action_quit()
    assert essay.read_text() == before


class TestSettingsSnapshots:
    @pytest.fixture(autouse=True)
    def _fixed_path(self, tmp_path, monkeypatch):
        """The screen shows where the file is (under ~): the same on every run."""
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv(settings.ENV, "~/.config/scriba/config.toml")

    @staticmethod
    async def run_before(pilot):
        await opened(pilot)
        await open_settings(pilot)
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.pause(0.3)

    def test_settings_at_80x24(self, snap_compare, make_app):
        assert snap_compare(from_settings(make_app), terminal_size=SMALL, run_before=self.run_before)

    def test_settings_at_160x48(self, snap_compare, make_app):
        assert snap_compare(from_settings(make_app), terminal_size=LARGE, run_before=self.run_before)
