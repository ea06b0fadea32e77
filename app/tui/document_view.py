"""The document as the writer sees it and changes it by hand: the outline, the editor on the selected
node, the preview and history that follow the selection, the saved / recorded marks of the status bar;
and the writer's own changes (text typed in the editor, new / deleted / moved nodes, restores), each
recorded through the session (app.session), with the panels shown again afterwards.

The view holds the open session (the screen gives it, once opened) and the selection; it drives the
panels it is given and uses the screen only for notes, dialogs and timers.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import TabbedContent

from app.session import Session
from app.store.errors import ConflictError
from app.tui.screens.dialogs import Choice
from app.tui.screens.time_travel import TimeTravelScreen
from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.history import HistoryPanel
from app.tui.widgets.outline import OutlineTree, preview
from app.tui.widgets.preview import DocumentPreview
from app.tui.widgets.status import StatusBar, history_off_reason
from engine.document import Document, InputRefused

IMPORTING = "recording history…"  # the status bar's activity while a first open's import is written


class DocumentView:
    def __init__(self, screen: Screen, *, outline: OutlineTree, editor: NodeEditor, side: TabbedContent,
                 preview_view: DocumentPreview, history_panel: HistoryPanel, status: StatusBar) -> None:
        self.screen = screen  # where its notes, dialogs and timers live
        self.outline = outline
        self.editor = editor
        self.side = side
        self.preview = preview_view
        self.history_panel = history_panel
        self.status = status
        self.session: Session | None = None
        self.selected_id: str | None = None
        self._side_timer = None

    @property
    def doc(self) -> Document | None:
        return self.session.doc if self.session is not None else None

    def ready_to_change(self) -> bool:
        """Changes need the revision store attached (it is, a moment after the document shows)."""
        if self.session is None or self.session.provisional:
            self.screen.notify("still opening the document's history; try again in a moment", severity="warning")
            return False
        return True

    # -- showing the document and the selection ------------------------------------------------------

    def show_opened(self, session: Session) -> None:
        """Show `session` in place of the one shown (none, or the provisional view of the same file: then
        the selection keeps its place in the tree)."""
        previous, self.session = self.session, session
        if session.provisional:
            self.show_document()
            return
        if previous is not None and previous.provisional and previous.doc is session.doc:
            # the provisional view's tree was imported as it is (same nodes, same ids): the outline holds
            # it already; only the editor becomes writable (no rebuild: seconds for a 20 MB document)
            self.select_node(self.selected_id)
            self.refresh_status()
            return
        select = None
        if previous is not None and self.selected_id in previous.doc:  # same text: same place in the tree
            index = [n.id for n in previous.doc.walk()].index(self.selected_id)
            ids = [n.id for n in session.doc.walk()]
            select = ids[index] if index < len(ids) else None
        self.selected_id = None
        self.show_document(select=select)

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
        node = doc.node(node_id) if node_id is not None else None
        self.editor.show_selection(node, read_only=node is not None and self.session.provisional)
        self.schedule_side_refresh()

    def schedule_side_refresh(self, delay: float = 0.15) -> None:
        """Preview and history follow the selection, a moment after it settles; not before the store is
        attached (the status bar says "opening history…"): rendering the preview meanwhile (0.5 s for 1 MB)
        takes the interpreter from the import the editor waits on, and there is no history to show yet."""
        if self._side_timer is not None:
            self._side_timer.stop()
            self._side_timer = None
        if self.session is not None and self.session.provisional:
            return
        self._side_timer = self.screen.set_timer(delay, self.refresh_side)

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
            session = self.session  # a commit merely on its way (a moment) is not worth a warning
            self.status.recorded = not session.unrecorded or (session.recording and not session.held_up)
            self.status.history_off = history_off_reason(session)

    def refresh_history(self) -> None:
        if self.session is not None:
            self.history_panel.show_for(self.session, self.selected_id)

    def after_change(self, node_id: str | None, reshaped: bool = True) -> None:
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
        if self.session.unrecorded and self.session.store_error and not self.session.recording:
            self.screen.notify(f"kept in memory, not in history yet: {self.session.store_error}", severity="warning")
        self.schedule_side_refresh()

    # -- recording in the background (app.store_worker) ----------------------------------------------

    def recorded(self, result) -> None:
        """A queued commit is done (app.store_worker.CommitResult): show the store's tree if the session
        took it, say what was refused, empty the journal once all is in."""
        session = self.session
        error = result.error
        if isinstance(error, ConflictError):
            self.conflict(result.request.what, error)
        elif error is not None and result.request.operation != "restore":  # a restore says it itself
            self.screen.notify(f"kept in memory, not in history yet: {error}", severity="warning")
        elif result.store_doc is not None and session.doc is result.store_doc:
            self.show_document()  # merged with another window's changes
        if result.request.operation == "import" and self.status.activity == IMPORTING:
            self.status.activity = ""
        self.refresh_status()
        session.settle_journal(self.editor.in_flight())

    def waiting(self, waiting: bool) -> None:
        """The store worker waits for (or got) the database's lock; keys go on working meanwhile."""
        self.status.activity = "waiting for the database…" if waiting else ""
        if waiting:
            self.screen.notify("the database is locked by another program: kept in memory, not in history yet; "
                               "retrying in the background", severity="warning", timeout=6)
        self.refresh_status()

    def journal_typing(self, node_id: str, text: str) -> None:
        """The writer is typing: the text goes to the journal (durable now, recorded at the next pause)."""
        session = self.session
        if session is not None and not session.provisional and session.journal is not None:
            session.journal.write(node_id, session.revision, text, session.doc_id)

    def conflict(self, what: str, exc: ConflictError) -> None:
        """A change refused because another window changed the same node: say so, show the store's version."""
        self.screen.notify(f"{what} not recorded: {exc}", title="Changed elsewhere", severity="error", timeout=10)
        self.show_document()
        self.refresh_history()

    # -- the writer's text -----------------------------------------------------------------------------

    def record_pending_edit(self) -> None:
        """Record what the writer typed in the editor and has not yet recorded (before anything else
        changes the document: a selection, an action, a save)."""
        pending = self.editor.take_pending()
        if pending is not None:
            self.record_edit(*pending)

    def record_edit(self, node_id: str, text: str) -> None:
        """Put the writer's `text` for `node_id` into the tree and record it (author "writer")."""
        if self.doc is None or node_id not in self.doc:
            self.screen.notify("that node is gone (changed elsewhere); your text is still in the editor's undo",
                               severity="warning")
            return
        try:
            reshaped = self.session.edit_text(node_id, text)
        except InputRefused as exc:
            self.screen.notify(f"edit not taken: {exc}", severity="error")
            return
        except ConflictError as exc:
            return self.conflict(f"your edit “{preview(text, 40)}”", exc)
        self.after_change(node_id, reshaped=reshaped)
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

    def node_at_cursor(self) -> str | None:
        """The node the editor's cursor is at, for continuing there (ctrl+g): in a paragraph, the sentence
        the cursor is in or just after (continuing after it goes on in the same paragraph); else the node
        being edited. The pending edit is recorded first, so the tree holds what the writer sees."""
        self.record_pending_edit()
        node_id = self.editor.node_id
        if node_id is None or self.doc is None or node_id not in self.doc:
            return self.selected_id
        node = self.doc.node(node_id)
        sentences = [c for c in node.children if c.kind.value == "sentence"]
        if node.kind.value != "paragraph" or not sentences:
            return node_id
        row, column = self.editor.cursor_location
        lines = self.editor.text.split("\n")
        offset = sum(len(line) + 1 for line in lines[:row]) + column
        base = self.doc.span(node_id)[0]
        at = sentences[0]
        for sentence in sentences:
            if self.doc.span(sentence.id)[0] - base < offset:
                at = sentence
        return at.id

    # -- structure ---------------------------------------------------------------------------------------

    def _structure_edit(self, operation: str, edit) -> None:
        """Run `edit(selected id) -> the node to show` (a Session method), then show the result."""
        if not self.ready_to_change():
            return
        if self.doc is None or self.selected_id is None:
            self.screen.notify("select a node first", severity="warning")
            return
        self.record_pending_edit()
        try:
            focus = edit(self.selected_id)
        except (InputRefused, KeyError, ValueError) as exc:
            self.screen.notify(f"{operation}: {exc}", severity="error")
            return
        except ConflictError as exc:
            return self.conflict(operation, exc)
        self.after_change(focus)
        self.select_node(focus if focus in self.doc else self.selected_id)

    def insert_after_selection(self, kind: str) -> None:
        """A new paragraph or heading after the selected node (in an empty document: its first node),
        opened in the editor with its placeholder selected, so the first key typed replaces it (a new
        heading keeps its `#`s). The focus moves now: keys typed right after `h` / `n` are the title's."""
        if self.doc is not None and self.selected_id is None and not self.doc.root.children:
            if not self.ready_to_change():
                return
            try:
                focus = self.session.insert_after(None, kind)
            except ConflictError as exc:
                return self.conflict("insert", exc)
            self.after_change(focus)
            self.outline.select_id(focus)
            self.select_node(focus)
        else:
            self._structure_edit("insert", lambda node_id: self.session.insert_after(node_id, kind))
        if self.selected_id is not None and self.editor.node_id == self.selected_id and not self.editor.read_only:
            self.editor.select_placeholder()
            self.screen.set_focus(self.editor)

    def delete_selection(self) -> None:
        """Delete the selected node (a heading: its section), once the writer confirms."""
        if self.selected_id is None or not self.ready_to_change():
            return
        node = self.doc.node(self.selected_id)

        def confirmed(choice: str | None) -> None:
            if choice == "delete":
                self._structure_edit("delete", self.session.delete)

        what = "the whole section" if node.kind.value == "heading" else f"this {node.kind.value}"
        self.screen.app.push_screen(Choice(
            "Delete?", f"Delete {what}: “{preview(node.text, 60)}”? It stays in the history.",
            [("delete", "Delete"), ("keep", "Keep")]), confirmed)

    def move_selection(self, delta: int) -> None:
        self._structure_edit("move", lambda node_id: self.session.move(node_id, delta))

    # -- history ---------------------------------------------------------------------------------------

    def restore_revision(self, revision_id: int, node_id: str | None = None) -> None:
        """Restore `node_id` (None: the whole document) as it was at `revision_id`, as new revisions."""
        if not self.ready_to_change() or self.session.store is None:
            self.screen.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()
        what = "the node" if node_id else "the document"

        def restored(revisions: list) -> None:
            self.show_document(select=node_id)
            self.refresh_history()
            self.screen.notify(f"restored {what} as of revision #{revision_id} ({len(revisions)} new revisions)")

        def recorded(result) -> None:  # in the background: after the commits queued before it
            if result.error is not None:
                self.screen.notify(f"could not restore: {result.error}", severity="error")
            else:
                restored(result.revisions)

        try:
            revisions = self.session.restore(revision_id, node_id, then=recorded)
        except Exception as exc:  # noqa: BLE001 - StoreError: one line, keep running
            self.screen.notify(f"could not restore: {exc}", severity="error")
            return
        if not self.session.recording:
            restored(revisions)

    def time_travel(self) -> None:
        """The time-travel screen over the whole document's change sets; restore the one chosen there."""
        if not self.ready_to_change() or self.session.store is None:
            self.screen.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()

        def done(revision: int | None) -> None:
            if revision is not None:
                self.restore_revision(revision)

        self.screen.app.push_screen(TimeTravelScreen(self.session), done)
