"""The main screen: the outline on the left, the editor in the middle, the rendered preview / history /
inspect view on the right; the candidates side by side below them; a status bar and the footer.

The panels take shares of the width (app.tcss), so the editor grows with the terminal. Under 120 columns
(`WIDE`) the side panel starts hidden: at 80 the outline and the editor are what a writer works in, and
three panels would leave each too narrow to read; f4 (or f2, a view's key) brings it back. ctrl+b hides
the outline, f10 is focus mode (the editor alone: esc or f10 again to leave). A panel the writer showed
or hid stays so when the terminal is resized.

The screen composes its panels and routes keys, commands and messages to the part that owns each:
the document as shown and edited by hand to `DocumentView` (app.tui.document_view: the selection),
the file to `FileSync` (app.tui.file_sync), the model to `Assistant` (app.tui.assistant). Each part
gets the panels it drives and, for each request, the session; the file and the model tell the screen
by message (app.tui.messages) when the document changed under them. What a change means lives below,
UI-free: the open document and its store in `app.session.Session`, the writing actions in `app.writing`.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from app.tui.assistant import Assistant
from app.tui.document_view import IMPORTING, DocumentView
from app.tui.file_sync import FileSync
from app.tui.generation import Generation
from app.tui.messages import (
    CandidateAccepted,
    ChangeRefused,
    DocumentOpened,
    DocumentOpenFailed,
    EngineFailed,
    EngineLoaded,
    ExternalEditMerged,
    FileChangedOnDisk,
    FileDeleted,
    GenerationDone,
    GenerationFailed,
    GenerationUpdate,
    InspectionReady,
)
from app.tui.options import EditorOptions
from app.tui.recording import Recorder
from app.tui.undoing import DocumentUndo
from app.tui.widgets.candidates import CandidatesPanel
from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.history import HistoryPanel, RevisionList
from app.tui.widgets.inspect_view import InspectView
from app.tui.widgets.outline import OutlineTree
from app.tui.widgets.preview import DocumentPreview
from app.tui.widgets.progress import GenerationProgress
from app.tui.widgets.status import StatusBar
from app.tui.writing_actions import instruction_prompt
from engine.protocol import Engine


class MainScreen(Screen):
    BINDINGS = [
        Binding("escape", "escape", "Cancel", show=False),
        Binding("f4", "toggle_preview", "Preview", show=False, id="toggle_preview"),
        Binding("ctrl+b", "toggle_outline", "Outline", show=False, id="toggle_outline"),
        Binding("f10", "toggle_focus_mode", "Focus", id="toggle_focus_mode"),
        Binding("question_mark", "app.help", "Help", show=False, id="help_question_mark"),  # typed in the editor
        Binding("ctrl+z", "undo", "Undo", id="undo"),  # the editor keeps its own (its text); this is the document's
        Binding("ctrl+y,ctrl+shift+z", "redo", "Redo", key_display="ctrl+y", id="redo"),
        Binding("ctrl+o", "open_file", "Open", show=False, id="open_file"),
        Binding("f6", "save_as", "Save as", show=False, id="save_as"),
    ]
    WIDE = 120  # the side panel starts shown from this many columns
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    def __init__(self, options: EditorOptions, engine: Engine | None = None) -> None:
        super().__init__()
        self.options = options
        self.open_seconds: float | None = None
        # the panels (attributes: other screens may be on top when a worker's message arrives)
        self.outline = OutlineTree(id="outline")
        self.editor = NodeEditor(id="editor")
        self.candidates = CandidatesPanel(id="candidates")
        self.progress = GenerationProgress(id="progress")
        self.side = TabbedContent(id="side", initial="preview")
        self.preview = DocumentPreview(id="preview-view")
        self.history_panel = HistoryPanel(id="history-panel")
        self.inspect_view = InspectView(id="inspect-view")
        self.status = StatusBar(id="status")
        # the parts, each given the panels it drives
        self.view = DocumentView(self, outline=self.outline, editor=self.editor, side=self.side,
                                 preview_view=self.preview, history_panel=self.history_panel, status=self.status)
        self.files = FileSync(self, options, self.editor)
        self.recorder = Recorder(self, self.view, self.status, options.db_path)
        self.assistant = Assistant(self, options, engine, candidates=self.candidates, status=self.status,
                                   inspect_view=self.inspect_view)
        self.undoing = DocumentUndo(self, self.view)

    def compose(self) -> ComposeResult:
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
        yield self.progress
        yield self.candidates
        yield self.status
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.outline.border_title = "Outline"
        self.editor.border_title = "Editor"
        self.editor.read_only = True
        self.status.document = self.options.path.name
        self.status.activity = "opening…"
        self.assistant.start()
        self.files.open()  # the engine loads after the document is on screen (importing torch takes a while)

    # what the parts hold, read-only (for the app, scripts and tests)
    session = property(lambda self: self.view.session)
    doc = property(lambda self: self.view.doc)
    selected_id = property(lambda self: self.view.selected_id)
    generation = property(lambda self: self.assistant.generation)

    def ready_to_change(self) -> bool:
        return self.view.ready_to_change()

    # -- the selection, moving around --------------------------------------------------------------------

    def on_outline_tree_node_chosen(self, message: OutlineTree.NodeChosen) -> None:
        if message.node_id is not None and (self.doc is None or message.node_id not in self.doc):
            return  # chosen in the outline of a tree that has been replaced since (e.g. the file's, on opening)
        if message.node_id != self.selected_id:
            self.view.select_node(message.node_id)

    # -- the layout: which panels show -----------------------------------------------------------------

    @property
    def focus_mode(self) -> bool:
        return self.has_class("-focus")

    def action_toggle_focus_mode(self) -> None:
        """The editor alone (the candidates too while there are some), and back."""
        self.set_class(not self.focus_mode, "-focus")
        if self.focus_mode:
            self.action_focus_editor()
        self._keep_focus_visible()

    def action_toggle_outline(self) -> None:
        self._show_panel("outline", not self.outline.display or self.focus_mode)

    def action_toggle_preview(self) -> None:
        """Show the side panel on the preview; hide it when it already shows the preview."""
        if self.side.display and not self.focus_mode and self.side.active == "preview":
            self._show_panel("side", False)
        else:
            self.action_show_tab("preview")

    def _show_panel(self, panel: str, shown: bool) -> None:
        """Show or hide `panel` ("outline" | "side") from now on, whatever the width (focus mode ends)."""
        self.remove_class("-focus")
        self.set_class(shown, f"-{panel}-shown")
        self.set_class(not shown, f"-{panel}-hidden")
        self._keep_focus_visible()

    def _keep_focus_visible(self) -> None:
        """A hidden panel gives the focus away: to the editor, else the outline."""
        self.call_after_refresh(self._move_focus_off_hidden)

    def _move_focus_off_hidden(self) -> None:
        focused = self.focused
        if focused is not None and focused.display and all(a.display for a in focused.ancestors_with_self
                                                           if a is not self.app and a is not self):
            return
        if self.selected_id is not None and self.editor.display:
            self.editor.focus()
        elif self.outline.display:
            self.outline.focus()

    def action_show_tab(self, tab: str) -> None:
        if not self.side.display or self.focus_mode:
            self._show_panel("side", True)
        self.side.active = tab
        if tab == "history":
            self.view.refresh_history()
            self.history_panel.query_one("#history-list").focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "history":
            self.view.refresh_history()

    def action_focus_editor(self) -> None:
        if self.selected_id is not None:
            self.editor.focus()

    def action_focus_outline(self) -> None:
        if self.focus_mode:  # esc in the editor leaves focus mode
            self.remove_class("-focus")
        if not self.outline.display:
            self._show_panel("outline", True)
        self.outline.focus()

    def action_escape(self) -> None:
        """Cancel a running generation; else put away the candidates; else back to the outline."""
        if self.assistant.running:
            self.action_cancel_generation()
        elif self.candidates.texts:
            self.action_reject_candidates()
        else:
            self.outline.focus()

    def on_change_refused(self, message: ChangeRefused) -> None:
        self.view.conflict(message.what, message.error)

    # -- the file: open, edits made elsewhere, save, export, quit --------------------------------------------

    def on_document_opened(self, message: DocumentOpened) -> None:
        first = self.session is None
        session = message.session
        self.status.activity = "opening history…" if session.provisional else IMPORTING if session.importing else ""
        self.view.show_opened(message.session)
        if first or message.session.provisional:
            self.outline.focus()
        if message.session.provisional:
            return
        self.open_seconds = message.seconds
        self.recorder.attach(message.session)
        for note in message.session.notes:
            self.notify(note, severity="warning" if "off" in note else "information", timeout=6)
        self.files.start_watching(message.session)
        self.call_after_refresh(self.assistant.load_engine_if_wanted)

    def on_document_open_failed(self, message: DocumentOpenFailed) -> None:
        if self.session is not None and self.session.provisional:  # the file is shown: go on without history
            self.session.provisional = False
            self.session.store_error = message.reason
            self.status.activity = "history off"
            self.view.select_node(self.selected_id)
            self.view.refresh_status()
        else:
            self.status.activity = "no document"
        self.notify(message.reason, title="Cannot open", severity="error", timeout=10)
        self.assistant.load_engine_if_wanted()

    def on_file_deleted(self, message: FileDeleted) -> None:
        if self.session is not None:
            self.files.file_deleted(self.session)
            self.view.refresh_status()

    def on_file_changed_on_disk(self, message: FileChangedOnDisk) -> None:
        if self.session is not None and self.files.file_changed(self.session, message.data):
            self.view.refresh_status()

    def on_external_edit_merged(self, message: ExternalEditMerged) -> None:
        self.view.show_document()
        if message.keep is not None and message.keep[0] in self.doc:
            self.view.record_edit(*message.keep)
            self.view.show_document(select=message.keep[0])
        self.view.refresh_history()

    def save_now(self) -> bool:
        if self.session is None:
            return False
        self.view.record_pending_edit()
        if not self.files.save(self.session):
            return False
        self.view.refresh_status()
        return True

    def action_save(self) -> None:
        if self.save_now():
            self.notify(f"saved {self.session.path}", timeout=2)

    def action_open_file(self) -> None:
        self.files.choose_file()

    def action_save_as(self) -> None:
        if self.session is not None and self.view.ready_to_change():
            self.files.save_as(self.session)

    def action_export(self) -> None:
        if self.session is not None:
            self.files.export(self.session)

    def leave(self) -> None:
        """Before the app exits: stop the model, record the pending edit and wait until the store has it
        (else it stays in the journal), save (autosave), stop watching."""
        self.assistant.stop()
        if self.session is not None:
            self.view.record_pending_edit()
            self.recorder.leave()
            if self.options.autosave and not self.session.saved:
                self.save_now()
        self.files.stop_watching()

    def close(self) -> None:
        """The app is gone: stop the watcher and the model, close the store."""
        self.files.stop_watching()
        self.assistant.stop()
        if self.session is not None:
            self.session.close()

    # -- the writer's changes by hand, history -------------------------------------------------------------

    def on_node_editor_edit_ready(self, message: NodeEditor.EditReady) -> None:
        self.view.record_edit(message.node_id, message.text)

    def on_node_editor_typing(self, message: NodeEditor.Typing) -> None:
        self.view.journal_typing(message.node_id, message.text)

    def action_new_paragraph(self) -> None:
        self.view.insert_after_selection("paragraph")
        self.editor.focus()

    def action_new_heading(self) -> None:
        self.view.insert_after_selection("heading")
        self.editor.focus()

    def action_delete_node(self) -> None:
        self.view.delete_selection()

    def action_move_node(self, delta: int) -> None:
        self.view.move_selection(delta)

    def action_toggle_history_scope(self) -> None:
        self.history_panel.whole_document = not self.history_panel.whole_document
        self.view.refresh_history()

    def on_revision_list_restore_requested(self, message: RevisionList.RestoreRequested) -> None:
        rev = message.revision
        self.view.restore_revision(rev.id, None if self.history_panel.whole_document else rev.node_id)

    def action_time_travel(self) -> None:
        self.view.time_travel()

    def action_undo(self) -> None:
        self.undoing.run(redo=False)

    def action_redo(self) -> None:
        self.undoing.run(redo=True)

    # -- the model: writing actions, candidates, inspect ------------------------------------------------------

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        self.assistant.engine_loaded(message)

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.assistant.engine_failed(message)

    def action_writing_action(self, name: str) -> None:
        """Run the registry's action `name` on the selection; ask for its instruction first if it needs one."""
        prompt = instruction_prompt(name)
        if prompt is None:
            self.generate(name)
        elif self.assistant.engine_or_explain():
            self.app.push_screen(prompt, lambda text: self.generate(name, text) if text else None)

    def action_continue_at_cursor(self) -> None:
        self.generate("continue", node_id=self.view.node_at_cursor())

    def generate(self, action: str, instruction: str | None = None, node_id: str | None = None,
                 seed: int | None = None, add: bool | None = None) -> Generation | None:
        """Ask the engine for candidates for `action` on the selected node (or `node_id`)."""
        if not self.view.ready_to_change() or not self.assistant.engine_or_explain():
            return None
        self.view.record_pending_edit()
        node_id = node_id if node_id is not None else self.selected_id
        gen = self.assistant.generate(self.session, node_id, action, instruction, seed, add)
        if gen is not None:
            self.progress.start(gen)
        return gen

    def on_generation_update(self, message: GenerationUpdate) -> None:
        self.assistant.update(message)
        self.progress.show(message.generation, message.candidates)

    def on_generation_done(self, message: GenerationDone) -> None:
        self.assistant.done(message)
        if message.generation is self.progress.generation:
            self.progress.clear()
            self.status.speed = None  # the speed was the generation's: no stale figure afterwards

    def on_generation_failed(self, message: GenerationFailed) -> None:
        self.assistant.failed(message)
        if message.generation is self.progress.generation:
            self.progress.clear()
            self.status.speed = None

    def on_candidates_panel_accept(self, message: CandidatesPanel.Accept) -> None:
        self.action_accept_candidate(message.index)

    def action_accept_candidate(self, index: int) -> None:
        self.assistant.accept(self.session, index)
        if not self.assistant.running:
            self.progress.clear()
            self.status.speed = None

    def action_show_candidate(self, index: int | None = None) -> None:
        self.assistant.show_candidate(self.session, self.candidates.highlighted if index is None else index)

    def on_candidate_accepted(self, message: CandidateAccepted) -> None:
        self.view.show_document(select=message.focus)
        self.outline.focus()
        self.view.refresh_history()

    def action_reject_candidates(self) -> None:
        self.assistant.reject()
        self.progress.clear()
        self.status.speed = None
        self.outline.focus()

    def action_regenerate(self) -> None:
        again = self.assistant.again()
        if again is not None:
            action, instruction, node_id, seed, add = again
            self.generate(action, instruction, node_id=node_id, seed=seed, add=add)

    def action_cancel_generation(self) -> None:
        self.assistant.cancel()

    def action_inspect(self) -> None:
        if self.session is None or self.selected_id is None or not self.assistant.engine_or_explain():
            return
        self.assistant.inspect(self.selected_id, self.doc.node(self.selected_id).text)
        self.action_show_tab("inspect")

    def on_inspection_ready(self, message: InspectionReady) -> None:
        self.assistant.inspection_ready(message)
