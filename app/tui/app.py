"""ScribaApp: the styles, the theme, the global keys, the writer's settings (app.settings: read at start,
applied, kept when changed), and the main screen (app.tui.screens.main), which owns the panels and the
parts that hold the open document, its file and the model. The app is given what to open and how (and an
engine, if one is already loaded); everything else happens on its screens. What is given explicitly
(the CLI's options, a test's) wins over the settings file for this run and is not written back.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from app import settings as settings_file
from app.settings import Settings
from app.tui.commands import system_commands
from app.tui.options import EditorOptions
from app.tui.screens.main import MainScreen
from engine.protocol import Engine

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ScribaApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "scriba"
    # one command provider (Textual's system commands, ours added in get_system_commands): the palette's
    # unfiltered list is sorted by title, the same on every run
    COMMANDS = App.COMMANDS
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True, id="save"),
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "show_tab('history')", "History", id="history"),
        Binding("f3", "time_travel", "Time travel", id="time_travel"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, id="theme"),
        Binding("ctrl+comma,f9", "settings", "Settings", show=False, id="settings"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
    ]

    def __init__(self, path: str | Path, db_path: str | Path | None = None, model_dir: str | Path | None = None,
                 backend: str = "auto", device: str | None = None, *, engine: Engine | None = None,
                 load_engine: bool = True, watch: bool = True, autosave: bool | None = None,
                 n_candidates: int | None = None, max_bytes: int | None = None, seed: int | None = None,
                 temperature: float | None = None, top_p: float | None = None, engine_url: str | None = None) -> None:
        super().__init__()
        self.settings, self.settings_problem = settings_file.load()
        # given for this run (None: the settings')
        self.overrides = {name: value for name, value in [("candidates", n_candidates), ("temperature", temperature),
                                                          ("top_p", top_p), ("autosave", autosave)]
                          if value is not None}
        self._seed, self._max_bytes = seed, max_bytes
        self.options = EditorOptions(Path(path), db_path, model_dir, backend, device, watch=watch,
                                     load_engine=load_engine, engine_url=engine_url)
        self._apply_run_settings()
        self.main = MainScreen(self.options, engine)
        self._exit_requested = False
        self._theme_ready = False  # the theme is the settings' from mount on: changes after that are kept
        self.theme = "textual-dark"

    # -- settings -------------------------------------------------------------------------------------

    def _effective(self) -> Settings:
        return replace(self.settings, **self.overrides)

    def _apply_run_settings(self) -> None:
        """Sampling and autosave from the settings (and what this run was given)."""
        effective = self._effective()
        self.options.sampling = effective.sampling(seed=self._seed, max_bytes=self._max_bytes)
        self.options.autosave = effective.autosave

    def _apply_theme(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.notify(f"settings: no theme {self.settings.theme!r}; using textual-dark", severity="warning",
                        timeout=8)

    def _apply_keymap(self) -> None:
        from app.tui.screens.help import binding_ids

        known = binding_ids(type(self))
        unknown = [name for name in self.settings.keymap if name not in known]
        if unknown:
            self.notify(f"settings: keymap: no binding {unknown[0]!r} (F1 lists the ids)", severity="warning",
                        timeout=8)
        self.set_keymap({k: v for k, v in self.settings.keymap.items() if k in known})

    def use_settings(self, new: Settings) -> None:
        """Write `new` to the settings file (atomically) and apply it now. Raises OSError (nothing applied)."""
        settings_file.save(new)
        self.settings, self.settings_problem = new, None
        self.overrides.clear()  # chosen in the app: these win over what the run was started with
        self._apply_run_settings()
        self._apply_theme()
        self._apply_keymap()

    def watch_theme(self, theme: str) -> None:
        """A theme chosen in the app (ctrl+t, the palette's Theme) is kept for the next run."""
        if not self._theme_ready or theme == self.settings.theme:
            return
        new = settings_file.changed(self.settings, theme=theme)
        try:
            settings_file.save(new)
        except OSError as exc:
            self.notify(f"theme not kept for the next run: {exc}", severity="warning", timeout=6)
            return
        self.settings = new

    def get_default_screen(self) -> MainScreen:
        return self.main

    # -- global actions: the document's are the main screen's ----------------------------------------

    def action_save(self) -> None:
        """ctrl+s saves what the screen on top edits: the settings on the settings screen, else the document."""
        save_here = getattr(self.screen, "action_save_here", None)
        if save_here is not None:
            save_here()
        else:
            self.main.action_save()

    def action_show_tab(self, tab: str) -> None:
        self.main.action_show_tab(tab)

    def action_time_travel(self) -> None:
        self.main.action_time_travel()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_help(self) -> None:
        from app.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        from app.tui.screens.settings import SettingsScreen

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self._effective()))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        ours = screen is self.main  # on the main screen our Quit (it says what it does) replaces Textual's
        yield from (c for c in super().get_system_commands(screen) if not (ours and c.title == "Quit"))
        if ours:
            yield from system_commands(self.main)

    async def action_quit(self) -> None:
        self.main.leave()
        self.exit(0)

    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        self._theme_ready = True
        if self.settings_problem:
            self.notify(self.settings_problem, title="Settings", severity="warning", timeout=10)
        # SIGTERM (a shutdown, `kill`) and SIGHUP (the terminal closed) quit as ctrl+q does: the pending edit
        # recorded, the journal flushed, the file autosaved. The loop runs the handler on the app's thread.
        loop = asyncio.get_running_loop()
        for sig in QUIT_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._quit_on_signal)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (an embedding host)
                pass

    def _quit_on_signal(self) -> None:
        if not self._exit_requested:
            self._exit_requested = True
            self.main.leave()
            self.exit(0)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in QUIT_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self.main.close()

    # -- the main screen's state, read-only (for scripts and tests driving the app) --------------------

    session = property(lambda self: self.main.session)
    doc = property(lambda self: self.main.doc)
    selected_id = property(lambda self: self.main.selected_id)
    generation = property(lambda self: self.main.generation)
    engine = property(lambda self: self.main.assistant.engine)
    engine_error = property(lambda self: self.main.assistant.engine_error)
    watcher = property(lambda self: self.main.files.watcher)
    outline = property(lambda self: self.main.outline)
    editor = property(lambda self: self.main.editor)
    candidates = property(lambda self: self.main.candidates)
    side = property(lambda self: self.main.side)
    preview = property(lambda self: self.main.preview)
    history_panel = property(lambda self: self.main.history_panel)
    inspect_view = property(lambda self: self.main.inspect_view)
    status = property(lambda self: self.main.status)
