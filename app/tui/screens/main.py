"""The main screen: the outline on the left, the editor in the middle, the rendered preview / history /
inspect view on the right; the candidates side by side below them; a status bar and the footer.

The screen owns its panels and handles their messages and the workers' (app.tui.messages). What a
change means lives below it, UI-free: the open document and its store in `app.session.Session`, the
writing actions in `app.writing`. The screen only decides what to show and when.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from app import writing
from app.session import Session
from app.store.errors import ConflictError
from app.sync import content_hash
from app.tui import files
from app.tui.generation import Generation, run_generation
from app.tui.messages import (
    DocumentOpened,
    DocumentOpenFailed,
    EngineFailed,
    EngineLoaded,
    FileChangedOnDisk,
    FileDeleted,
    GenerationDone,
    GenerationFailed,
    GenerationUpdate,
    InspectionReady,
)
from app.tui.screens.dialogs import Choice, TextPrompt
from app.tui.screens.time_travel import TimeTravelScreen
from app.tui.widgets.candidates import CandidatesPanel
from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.history import HistoryPanel, RevisionList
from app.tui.widgets.inspect_view import InspectView
from app.tui.widgets.outline import OutlineTree, preview
from app.tui.widgets.preview import DocumentPreview
from app.tui.widgets.status import StatusBar
from engine import actions
from engine.actions import ActionRefused, changed_nodes
from engine.document import Document, InputRefused
from engine.protocol import Engine

KIND_TITLE = {"heading": "§ heading", "paragraph": "¶ paragraph", "sentence": "› sentence", "block": "▤ block"}


@dataclass
class EditorOptions:
    """What the editor was asked to open, and how."""

    path: Path
    db_path: str | Path | None = None
    model_dir: str | Path | None = None
    backend: str = "auto"
    device: str | None = None
    watch: bool = True
    autosave: bool = True
    load_engine: bool = True  # load the engine (model_dir, or the bundled one) once the document shows
    sampling: writing.Sampling = writing.Sampling()


class MainScreen(Screen):
    BINDINGS = [
        Binding("escape", "escape", "Cancel", show=False),
        Binding("f4", "show_tab('preview')", "Preview", show=False),
    ]

    def __init__(self, options: EditorOptions, engine: Engine | None = None) -> None:
        super().__init__()
        self.options = options
        self.engine = engine
        self.engine_name: str | None = None
        self.engine_error: str | None = None if (engine is not None or options.load_engine) else "no model loaded"
        self.should_load_engine = options.load_engine and engine is None
        self.session: Session | None = None
        self.selected_id: str | None = None
        self.generation: Generation | None = None
        self.watch: files.Watch | None = None
        self.history_whole_document = False
        self.open_seconds: float | None = None
        self._side_timer = None
        # the panels (attributes: other screens may be on top when a worker's message arrives)
        self.outline = OutlineTree(id="outline")
        self.editor = NodeEditor(id="editor")
        self.candidates = CandidatesPanel(id="candidates")
        self.side = TabbedContent(id="side", initial="preview")
        self.preview = DocumentPreview(id="preview-view")
        self.history_panel = HistoryPanel(id="history-panel")
        self.inspect_view = InspectView(id="inspect-view")
        self.status = StatusBar(id="status")

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
        yield self.candidates
        yield self.status
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.outline.border_title = "Outline"
        self.editor.border_title = "Editor"
        self.editor.read_only = True
        self.status.document = self.options.path.name
        self.status.activity = "opening…"
        if self.engine is not None:
            self._engine_ready(self.engine)
        elif not self.should_load_engine:
            self.status.engine = self.engine_error
        self._open_worker()  # the engine loads after the document is on screen (importing torch takes a while)

    @property
    def doc(self) -> Document | None:
        return self.session.doc if self.session is not None else None

    def ready_to_change(self) -> bool:
        """Changes need the revision store attached (it is, a moment after the document shows)."""
        if self.session is None or self.session.provisional:
            self.notify("still opening the document's history; try again in a moment", severity="warning")
            return False
        return True

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
        if self._side_timer is not None:
            self._side_timer.stop()
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

    def _after_change(self, node_id: str | None, reshaped: bool = True) -> None:
        """Show the tree after a change; keep the editor on `node_id` while it exists."""
        doc = self.doc
        if node_id is not None and node_id not in doc:
            node_id = next((i for i in doc.last_change.created if i in doc), None)
        if reshaped:
            self.outline.load(doc, select=node_id if node_id is not None else self.selected_id)
        else:
            changed = set(doc.last_change.ids) | {node_id}
            for nid in list(changed):
                if nid in doc and doc.node(nid).parent is not None:
                    changed.add(doc.node(nid).parent.id)
            self.outline.relabel(doc, [i for i in changed if i in doc])
        if self.editor.node_id not in doc or self.editor.node_id != self.selected_id:
            self.select_node(node_id if node_id in doc else self.outline.selected_id)
        self.refresh_status()
        if self.session.unrecorded and self.session.store_error:
            self.notify(f"kept in memory, not in history yet: {self.session.store_error}", severity="warning")
        self.schedule_side_refresh()

    def _conflict(self, what: str, exc: ConflictError) -> None:
        """A change refused because another window changed the same node: say so, show the store's version."""
        self.notify(f"{what} not recorded: {exc}", title="Changed elsewhere", severity="error", timeout=10)
        self.show_document()
        self.refresh_history()

    # -- small actions -------------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.side.active = tab
        if tab == "history":
            self.refresh_history()
            self.history_panel.query_one("#history-list").focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "history":
            self.refresh_history()

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

    # -- open, watch, save, export, quit ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open_worker(self) -> None:
        files.open_document(self.options.path, self.options.db_path, self.post_message)

    def on_document_opened(self, message: DocumentOpened) -> None:
        previous = self.session
        self.session = message.session
        if message.session.provisional:
            self.status.activity = "opening history…"
            self.show_document()
            self.outline.focus()
            return
        self.open_seconds = message.seconds
        self.status.activity = ""
        select = None
        if previous is not None and self.selected_id in previous.doc:  # same text: same place in the tree
            index = [n.id for n in previous.doc.walk()].index(self.selected_id)
            ids = [n.id for n in self.session.doc.walk()]
            select = ids[index] if index < len(ids) else None
        self.selected_id = None
        self.show_document(select=select)
        if previous is None:
            self.outline.focus()
        for note in self.session.notes:
            self.notify(note, severity="warning" if "off" in note else "information", timeout=6)
        if self.options.watch:
            self.start_watching()
        self.call_after_refresh(self.load_engine_if_wanted)

    def on_document_open_failed(self, message: DocumentOpenFailed) -> None:
        if self.session is not None and self.session.provisional:  # the file is shown: go on without history
            self.session.provisional = False
            self.session.store_error = message.reason
            self.status.activity = "history off"
            self.select_node(self.selected_id)
        else:
            self.status.activity = "no document"
        self.notify(message.reason, title="Cannot open", severity="error", timeout=10)
        self.load_engine_if_wanted()

    def start_watching(self) -> None:
        self.watch = files.Watch(self.session, self.post_message)
        self.run_worker(self.watch.run, thread=True, group="watch", name="file watcher", exit_on_error=False)

    @property
    def watcher(self):
        return self.watch.watcher if self.watch is not None else None

    def stop_watching(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    def on_file_deleted(self, message: FileDeleted) -> None:
        if self.session is None:
            return
        self.session.disk_hash = None
        self.refresh_status()
        self.notify(f"{self.session.name} was deleted or moved away. Your text is safe here; ctrl+s writes it "
                    "again.", title="File gone", severity="warning", timeout=10)

    def on_file_changed_on_disk(self, message: FileChangedOnDisk) -> None:
        if self.session is None:
            return
        try:
            text = Document.from_bytes(message.data).to_markdown()
        except InputRefused as exc:
            self.notify(f"ignored the new content of {self.session.name}: {exc}", severity="error", timeout=10)
            return
        self.session.disk_hash = content_hash(text)
        if text == self.session.markdown:
            self.refresh_status()
            return
        new = Document.from_records(self.session.doc.records())
        new.merge_markdown(text)
        changed = set(changed_nodes(self.session.doc, new))
        editing = self.editor.node_id if self.editor.dirty else None
        if editing is not None and editing in changed:
            def decide(choice: str | None) -> None:
                mine = self.editor.take_pending() if choice == "mine" else None
                if choice != "mine":
                    self.editor.take_pending()
                self._merge_external(text, keep=mine)

            self.app.push_screen(Choice(
                "The file changed on disk", f"{self.session.name} was edited elsewhere, and that edit changes the "
                "node you are editing here. Which version of it do you want?",
                [("theirs", "Take the file's version"), ("mine", "Keep my edit")]), decide)
            return
        self._merge_external(text)

    def _merge_external(self, text: str, keep: tuple[str, str] | None = None) -> None:
        """Merge `text` (the file as it is now) into the tree as an `external` revision; `keep`: the
        writer's pending edit (node id, text) to apply on top afterwards."""
        try:
            changed, revisions = self.session.merge_external(text)
        except ConflictError as exc:
            return self._conflict("the file's new content", exc)
        self.show_document()
        self.notify(f"{self.session.name} changed on disk: merged ({len(changed)} nodes, "
                    f"{len(revisions)} revisions).", title="External edit")
        if keep is not None and keep[0] in self.session.doc:
            self.record_edit(*keep)
            self.show_document(select=keep[0])
        self.refresh_history()

    def save_now(self) -> bool:
        if self.session is None:
            return False
        self.record_pending_edit()
        text = self.session.markdown
        if self.watcher is not None:
            self.watcher.remember(text)  # before writing: the event of our own save must be known
        try:
            self.session.save()
        except OSError as exc:
            self.notify(f"could not save {self.session.name}: {exc.strerror or exc}. Nothing is lost: the text "
                        "is in the revision store; try again or export elsewhere.", severity="error", timeout=10)
            return False
        self.refresh_status()
        return True

    def action_save(self) -> None:
        if self.save_now():
            self.notify(f"saved {self.session.path}", timeout=2)

    def action_export(self) -> None:
        if self.session is None:
            return
        default = str(self.session.path.with_name(self.session.path.stem + "-export.md"))

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                target = self.session.export(path)
            except OSError as exc:
                self.notify(f"could not export: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"exported to {target}")

        self.app.push_screen(TextPrompt("Export the document to", value=default), done)

    def leave(self) -> None:
        """Before the app exits: stop the model, record the pending edit, save (autosave), stop watching."""
        if self.generation is not None:
            self.generation.cancel.set()
        if self.session is not None:
            self.record_pending_edit()
            if self.options.autosave and not self.session.saved:
                self.save_now()
        self.stop_watching()

    def close(self) -> None:
        """The app is gone: stop the watcher and the model, close the store."""
        self.stop_watching()
        if self.generation is not None:
            self.generation.cancel.set()
        if self.session is not None:
            self.session.close()

    # -- the writer's text -----------------------------------------------------------------------------

    def on_node_editor_edit_ready(self, message: NodeEditor.EditReady) -> None:
        self.record_edit(message.node_id, message.text)

    def record_pending_edit(self) -> None:
        """Record what the writer typed in the editor and has not yet recorded (before anything else
        changes the document: a selection, an action, a save)."""
        pending = self.editor.take_pending()
        if pending is not None:
            self.record_edit(*pending)

    def record_edit(self, node_id: str, text: str) -> None:
        """Put the writer's `text` for `node_id` into the tree and record it (author "writer")."""
        if self.doc is None or node_id not in self.doc:
            self.notify("that node is gone (changed elsewhere); your text is still in the editor's undo",
                        severity="warning")
            return
        try:
            reshaped = self.session.edit_text(node_id, text)
        except InputRefused as exc:
            self.notify(f"edit not taken: {exc}", severity="error")
            return
        except ConflictError as exc:
            return self._conflict(f"your edit “{preview(text, 40)}”", exc)
        self._after_change(node_id, reshaped=reshaped)
        doc = self.doc
        if node_id in doc and self.editor.node_id == node_id and doc.node(node_id).text.strip() != text.strip():
            self._follow_split(node_id, text)

    def _follow_split(self, node_id: str, text: str) -> None:
        """The edit made more than one node (a sentence became two, a paragraph got a blank line): keep
        everything the writer typed in view by editing the paragraph that holds it now."""
        doc = self.doc
        node = doc.node(node_id)
        target = node.parent if node.kind.value == "sentence" else node
        if target.kind.value != "paragraph":
            self.editor.show_node(node_id, node.text)
            return
        rel = doc.span(node_id)[0] - doc.span(target.id)[0] + len(text.rstrip())
        self.outline.select_id(target.id)
        self.select_node(target.id)
        before = target.text[:rel]
        self.editor.move_cursor((before.count("\n"), len(before) - (before.rfind("\n") + 1)))

    # -- structure ---------------------------------------------------------------------------------------

    def _structure_edit(self, operation: str, edit) -> None:
        """Run `edit(session, selected id) -> the node to show` (a Session method), then show the result."""
        if not self.ready_to_change():
            return
        if self.doc is None or self.selected_id is None:
            self.notify("select a node first", severity="warning")
            return
        self.record_pending_edit()
        try:
            focus = edit(self.selected_id)
        except (InputRefused, KeyError, ValueError) as exc:
            self.notify(f"{operation}: {exc}", severity="error")
            return
        except ConflictError as exc:
            return self._conflict(operation, exc)
        self._after_change(focus)
        self.select_node(focus if focus in self.doc else self.selected_id)

    def action_new_paragraph(self) -> None:
        self._structure_edit("insert", lambda node_id: self.session.insert_after(node_id, "paragraph"))
        self.editor.focus()

    def action_new_heading(self) -> None:
        self._structure_edit("insert", lambda node_id: self.session.insert_after(node_id, "heading"))
        self.editor.focus()

    def action_delete_node(self) -> None:
        if self.selected_id is None or not self.ready_to_change():
            return
        node = self.doc.node(self.selected_id)

        def confirmed(choice: str | None) -> None:
            if choice == "delete":
                self._structure_edit("delete", self.session.delete)

        what = "the whole section" if node.kind.value == "heading" else f"this {node.kind.value}"
        self.app.push_screen(Choice("Delete?", f"Delete {what}: “{preview(node.text, 60)}”? It stays in the history.",
                                    [("delete", "Delete"), ("keep", "Keep")]), confirmed)

    def action_move_node(self, delta: int) -> None:
        self._structure_edit("move", lambda node_id: self.session.move(node_id, delta))

    # -- history -----------------------------------------------------------------------------------------

    def refresh_history(self) -> None:
        if self.session is None:
            return
        panel = self.history_panel
        panel.whole_document = self.history_whole_document
        node_id = None if self.history_whole_document else self.selected_id
        if self.history_whole_document or (node_id is not None and node_id in self.doc):
            revisions = self.session.node_history(node_id)
        else:
            revisions = []
        current = {n.id: n.text for n in self.doc.walk()}
        label = "(no node)"
        if node_id is not None and node_id in self.doc:
            node = self.doc.node(node_id)
            label = f"{node.kind.value}: {preview(node.text, 30)}"
        panel.show(revisions, current, label)

    def action_toggle_history_scope(self) -> None:
        self.history_whole_document = not self.history_whole_document
        self.refresh_history()

    def on_revision_list_restore_requested(self, message: RevisionList.RestoreRequested) -> None:
        rev = message.revision
        self.restore_revision(rev.id, None if self.history_whole_document else rev.node_id)

    def restore_revision(self, revision_id: int, node_id: str | None = None) -> None:
        if not self.ready_to_change() or self.session.store is None:
            self.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()
        try:
            revisions = self.session.restore(revision_id, node_id)
        except Exception as exc:  # noqa: BLE001 - StoreError: one line, keep running
            self.notify(f"could not restore: {exc}", severity="error")
            return
        self.show_document(select=node_id)
        self.refresh_history()
        what = "the node" if node_id else "the document"
        self.notify(f"restored {what} as of revision #{revision_id} ({len(revisions)} new revisions)")

    def action_time_travel(self) -> None:
        if not self.ready_to_change() or self.session.store is None:
            self.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()

        def done(revision: int | None) -> None:
            if revision is not None:
                self.restore_revision(revision)

        self.app.push_screen(TimeTravelScreen(self.session), done)

    # -- the engine ----------------------------------------------------------------------------------------

    def load_engine_if_wanted(self) -> None:
        if self.should_load_engine and self.engine is None:
            self.should_load_engine = False
            self.status.engine = "loading model…"
            self._load_engine()

    @work(thread=True, group="engine", name="load engine", exit_on_error=False)
    def _load_engine(self) -> None:
        started = time.perf_counter()
        try:
            # torch loads here, in a worker, after the document is on screen
            from engine.api import load_engine  # noqa: PLC0415

            engine = load_engine(self.options.model_dir, backend=self.options.backend, device=self.options.device)
        except Exception as exc:  # noqa: BLE001 - EngineUnavailable, no torch, …: say it, keep running
            self.post_message(EngineFailed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        self.post_message(EngineLoaded(engine, time.perf_counter() - started))

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        self._engine_ready(message.engine)

    def _engine_ready(self, engine: Engine) -> None:
        self.engine, self.engine_error = engine, None
        info = engine.info()
        self.engine_name = info.model
        self.status.engine = f"{info.model} · {info.backend} · {info.device}"
        self.status.engine_ok = True

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.engine_error = message.reason
        self.status.engine = "no model (writing actions off)"
        self.notify(f"{message.reason}\nYou can keep writing; the writing actions need a model (--model DIR).",
                    title="No model", severity="warning", timeout=10)

    def _engine_or_explain(self) -> bool:
        if self.engine is not None:
            return True
        reason = self.engine_error or "the model is still loading; try again in a moment"
        self.notify(f"writing actions are off: {reason}", severity="warning")
        return False

    # -- the writing actions ---------------------------------------------------------------------------------

    def action_writing_action(self, name: str) -> None:
        """Run the registry's action `name` on the selection; ask for its instruction first if it needs one."""
        entry = actions.get(name)
        if entry.instruction != "required":
            self.generate(name)
        elif self._engine_or_explain():
            help_text = ("How should the selected text change?" if entry.node_kinds
                         else "New headings are added at the end of the document.")
            self.app.push_screen(TextPrompt(*entry.prompt, help_text=help_text),
                                 lambda text: self.generate(name, text) if text else None)

    def generate(self, action: str, instruction: str | None = None, node_id: str | None = None,
                 seed: int | None = None) -> Generation | None:
        """Ask the engine for candidates for `action` on the selected node (in a thread worker)."""
        if not self.ready_to_change() or not self._engine_or_explain():
            return None
        self.record_pending_edit()
        node_id = node_id if node_id is not None else self.selected_id
        sampling = self.options.sampling if seed is None else dataclasses.replace(self.options.sampling, seed=seed)
        try:
            proposal = writing.propose(self.doc, node_id, action, instruction, sampling,
                                       base_revision=self.session.revision)
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.notify(f"{action}: {exc}", severity="warning")
            return None
        if self.generation is not None:
            self.generation.cancel.set()
        gen = Generation(proposal)
        self.generation = gen
        target = preview(self.doc.node(proposal.node_id).text, 30) if proposal.node_id else "the document"
        self.candidates.start(f"{proposal.operation} {proposal.task.level} · {target}")
        self.candidates.focus()
        self.status.activity = f"{proposal.operation}…"
        engine = self.engine
        self.run_worker(lambda: run_generation(engine, gen, self.post_message), thread=True, exclusive=True,
                        group=f"gen-{proposal.node_id}", name=f"{proposal.operation} {proposal.node_id}",
                        exit_on_error=False)
        return gen

    def on_generation_update(self, message: GenerationUpdate) -> None:
        if message.generation is self.generation and self.generation.running:
            self.generation.latest = message.candidates
            self.candidates.update_candidates(message.candidates, message.speed)
            self.status.speed = message.speed

    def on_generation_done(self, message: GenerationDone) -> None:
        gen = message.generation
        gen.running = False
        gen.raw = message.candidates
        if gen is not self.generation:
            return
        self.candidates.update_candidates(message.candidates)
        gen.texts = writing.finish_candidates(gen.proposal, message.candidates)
        nbytes = sum(c.nbytes for c in message.candidates)
        self.status.speed = nbytes / max(message.seconds, 1e-6)
        self.status.activity = ""
        note = (f"{'cancelled' if gen.cancel.is_set() else 'done'} · {nbytes} B in {message.seconds:.1f} s · "
                "1-9/enter accept · g regenerate · x reject")
        self.candidates.finish(gen.texts, note)

    def on_generation_failed(self, message: GenerationFailed) -> None:
        message.generation.running = False
        if message.generation is self.generation:
            self.status.activity = ""
            self.candidates.clear_candidates("the model failed")
            self.notify(f"the model failed: {message.reason}", severity="error", timeout=10)

    def on_candidates_panel_accept(self, message: CandidatesPanel.Accept) -> None:
        self.action_accept_candidate(message.index)

    def action_accept_candidate(self, index: int) -> None:
        gen = self.generation
        if gen is not None and gen.running:
            # a candidate that has finished can be taken while the others are still being written
            latest = gen.latest
            if not (0 <= index < len(latest)) or latest[index].finish == "running":
                self.notify(f"candidate {index + 1} is still being written (esc stops all)", severity="warning")
                return
            gen.take_finished()
            self.status.activity = ""
        if gen is None or not 0 <= index < len(gen.texts):
            return
        try:
            accepted = self.session.accept(gen.proposal, gen.texts, index, model=self.engine_name)
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.notify(f"cannot apply candidate {index + 1}: {exc}", severity="error")
            return
        except ConflictError as exc:
            self.generation = None
            self.candidates.clear_candidates(f"candidate {index + 1} not taken")
            return self._conflict(f"candidate {index + 1}", exc)
        self.generation = None
        self.candidates.clear_candidates(f"accepted candidate {index + 1}")
        self.show_document(select=accepted.focus)
        self.outline.focus()
        self.refresh_history()

    def action_reject_candidates(self) -> None:
        if self.generation is not None:
            self.generation.cancel.set()
            self.generation = None
        self.candidates.clear_candidates("rejected")
        self.outline.focus()

    def action_regenerate(self) -> None:
        gen = self.generation
        if gen is None:
            return
        seed = None if gen.params.get("seed") is None else gen.params["seed"] + 1
        self.generate(gen.proposal.action.name, gen.proposal.instruction, node_id=gen.node_id, seed=seed)

    def action_cancel_generation(self) -> None:
        if self.generation is not None and self.generation.running:
            self.generation.cancel.set()
            self.candidates.border_subtitle = "cancelling…"

    # -- inspect ---------------------------------------------------------------------------------------------

    def action_inspect(self) -> None:
        if self.session is None or self.selected_id is None or not self._engine_or_explain():
            return
        node_id, text = self.selected_id, self.doc.node(self.selected_id).text
        self.inspect_view.show_message("inspecting…")
        self.action_show_tab("inspect")
        engine = self.engine

        def work() -> None:
            try:
                self.post_message(InspectionReady(node_id, engine.inspect(text)))
            except Exception as exc:  # noqa: BLE001
                self.post_message(InspectionReady(node_id, exc))

        self.run_worker(work, thread=True, exclusive=True, group="inspect", exit_on_error=False)

    def on_inspection_ready(self, message: InspectionReady) -> None:
        if isinstance(message.inspection, Exception):
            self.inspect_view.show_message(f"inspect failed: {message.inspection}")
        else:
            self.inspect_view.show(message.inspection)
