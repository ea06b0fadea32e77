"""ScribaApp: the styles, the theme, the global keys, and the main screen (app.tui.screens.main), which
owns the panels and the parts that hold the open document, its file and the model. The app is given
what to open and how (and an engine, if one is already loaded); everything else happens on its screens.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from app import writing
from app.tui.commands import ScribaCommands
from app.tui.options import EditorOptions
from app.tui.screens.main import MainScreen
from engine.protocol import Engine

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ScribaApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "scriba"
    COMMANDS = App.COMMANDS | {ScribaCommands}
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("f2", "show_tab('history')", "History"),
        Binding("f3", "time_travel", "Time travel"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, path: str | Path, db_path: str | Path | None = None, model_dir: str | Path | None = None,
                 backend: str = "auto", device: str | None = None, *, engine: Engine | None = None,
                 load_engine: bool = True, watch: bool = True, autosave: bool = True, n_candidates: int = 3,
                 max_bytes: int | None = None, seed: int | None = None, temperature: float = 0.8,
                 top_p: float = 0.95, engine_url: str | None = None) -> None:
        super().__init__()
        sampling = writing.Sampling(n=n_candidates, temperature=temperature, top_p=top_p, seed=seed,
                                    max_bytes=max_bytes)
        self.options = EditorOptions(Path(path), db_path, model_dir, backend, device, watch=watch, autosave=autosave,
                                     load_engine=load_engine, sampling=sampling, engine_url=engine_url)
        self.main = MainScreen(self.options, engine)
        self._exit_requested = False
        self.theme = "textual-dark"

    def get_default_screen(self) -> MainScreen:
        return self.main

    # -- global actions: the document's are the main screen's ----------------------------------------

    def action_save(self) -> None:
        self.main.action_save()

    def action_show_tab(self, tab: str) -> None:
        self.main.action_show_tab(tab)

    def action_time_travel(self) -> None:
        self.main.action_time_travel()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    async def action_quit(self) -> None:
        self.main.leave()
        self.exit(0)

    def on_mount(self) -> None:
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
