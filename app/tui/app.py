"""ScribaApp: the outline on the left, the editor in the middle, the rendered preview / history /
inspect view on the right; the candidates side by side below them; a status bar and the footer.

The behaviour lives in mixins by theme: files (open, save, watch), editing (hand edits, structure,
history), generation (the engine, writing actions, candidates, inspect).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, TabbedContent, TabPane

from app.tui.commands import ScribaCommands
from app.tui.editing import EditingMixin
from app.tui.files import FilesMixin
from app.tui.generation import GenerationMixin
from app.tui.widgets.candidates import CandidatesPanel
from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.history import HistoryPanel
from app.tui.widgets.inspect_view import InspectView
from app.tui.widgets.outline import OutlineTree
from app.tui.widgets.preview import DocumentPreview
from app.tui.widgets.status import StatusBar

KIND_TITLE = {"heading": "§ heading", "paragraph": "¶ paragraph", "sentence": "› sentence", "block": "▤ block"}


class ScribaApp(FilesMixin, EditingMixin, GenerationMixin, App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "scriba"
    COMMANDS = App.COMMANDS | {ScribaCommands}
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "escape", "Cancel", show=False),
        Binding("f2", "show_tab('history')", "History"),
        Binding("f3", "time_travel", "Time travel"),
        Binding("f4", "show_tab('preview')", "Preview", show=False),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, path: str | Path, db_path: str | Path | None = None, model_dir: str | Path | None = None,
                 backend: str = "auto", device: str | None = None, *, engine=None, load_engine: bool = True,
                 watch: bool = True, autosave: bool = True, n_candidates: int = 3, max_bytes: int | None = None,
                 seed: int | None = None, temperature: float = 0.8, top_p: float = 0.95) -> None:
        super().__init__()
        self.path = Path(path)
        self.db_path = db_path
        self.model_dir, self.backend, self.device = model_dir, backend, device
        self.engine = engine
        self.engine_error: str | None = None if (engine is not None or load_engine) else "no model loaded"
        self.should_load_engine = load_engine and engine is None
        self.watch_file, self.autosave = watch, autosave
        self.sampling = {"n": n_candidates, "max_bytes": max_bytes, "seed": seed, "temperature": temperature,
                         "top_p": top_p}
        self.session = None
        self.selected_id: str | None = None
        self.generation = None
        self.theme = "textual-dark"

    def compose(self) -> ComposeResult:
        # kept as attributes: they live on the main screen, and other screens may be on top
        self.outline = OutlineTree(id="outline")
        self.editor = NodeEditor(id="editor")
        self.candidates = CandidatesPanel(id="candidates")
        self.side = TabbedContent(id="side", initial="preview")
        self.preview = DocumentPreview(id="preview-view")
        self.history_panel = HistoryPanel(id="history-panel")
        self.inspect_view = InspectView(id="inspect-view")
        self.status = StatusBar(id="status")
        with Horizontal(id="main"):
            yield self.outline
            yield self.editor
            with self.side:
                with TabPane("Preview", id="preview"):
                    yield self.preview
                with TabPane("History", id="history"):
                    yield self.history_panel
                with TabPane("Inspect", id="inspect"):
                    yield self.inspect_view
        yield self.candidates
        yield self.status
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.outline.border_title = "Outline"
        self.editor.border_title = "Editor"
        self.editor.read_only = True
        self.status.document = self.path.name
        self.status.activity = "opening…"
        if self.engine is not None:
            self._engine_ready(self.engine)
        elif not self.should_load_engine:
            self.status.engine = self.engine_error
        self.start_open()  # the engine loads after the document is on screen (importing torch takes a while)

    def ready_to_change(self) -> bool:
        """Changes need the revision store attached (it is, a moment after the document shows)."""
        if self.session is None or self.session.provisional:
            self.notify("still opening the document's history; try again in a moment", severity="warning")
            return False
        return True

    @property
    def doc(self):
        return self.session.doc if self.session is not None else None

    # -- showing the document ----------------------------------------------------------------------

    def show_document(self, select: str | None = None) -> None:
        """Rebuild the outline from the session's document and show `select` (or keep the selection)."""
        doc = self.doc
        target = select if select is not None and select in doc else self.selected_id
        if target is None or target not in doc:
            target = next((n.id for n in doc.walk() if n.parent is not None), None)
        self.outline.load(doc, select=target)
        self.select_node(target)
        self.refresh_status()

    def select_node(self, node_id: str | None) -> None:
        """Make `node_id` the node being worked on: editor, preview, history follow it."""
        self.record_pending_edit()
        doc = self.doc
        if node_id is not None and (doc is None or node_id not in doc):
            node_id = None
        self.selected_id = node_id
        if node_id is None:
            self.editor.show_node(None, "")
            self.editor.border_title = "Editor"
        else:
            node = doc.node(node_id)
            self.editor.show_node(node_id, node.text)
            self.editor.read_only = self.session.provisional
            self.editor.border_title = f"Editor · {KIND_TITLE.get(str(node.kind), str(node.kind))}"
        self.schedule_side_refresh()

    def on_outline_tree_node_chosen(self, message: OutlineTree.NodeChosen) -> None:
        if message.node_id is not None and (self.doc is None or message.node_id not in self.doc):
            return  # chosen in the outline of a tree that has been replaced since (e.g. the file's, on opening)
        if message.node_id != self.selected_id:
            self.select_node(message.node_id)

    def schedule_side_refresh(self, delay: float = 0.15) -> None:
        """Preview and history follow the selection, a moment after it settles."""
        timer = getattr(self, "_side_timer", None)
        if timer is not None:
            timer.stop()
        self._side_timer = self.set_timer(delay, self.refresh_side)

    async def refresh_side(self) -> None:
        self._side_timer = None
        if self.session is None:
            return
        if self.side.active == "history":
            self.refresh_history()
        offset = 0
        if self.selected_id is not None and self.selected_id in self.doc:
            offset = self.doc.span(self.selected_id)[0]
        await self.preview.show(self.session.markdown, offset)

    def refresh_status(self) -> None:
        if self.session is not None:
            self.status.saved = self.session.saved
            self.status.recorded = not self.session.unrecorded

    # -- small actions -------------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.side.active = tab
        if tab == "history":
            self.refresh_history()
            self.history_panel.query_one("#history-list").focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "history":
            self.refresh_history()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_focus_editor(self) -> None:
        if self.selected_id is not None:
            self.editor.focus()

    def action_focus_outline(self) -> None:
        self.outline.focus()

    def action_escape(self) -> None:
        """Cancel a running generation; else put away the candidates; else back to the outline."""
        if self.generation is not None and self.generation.running:
            self.action_cancel_generation()
        elif self.candidates.texts:
            self.action_reject_candidates()
        else:
            self.outline.focus()
