"""The document's file, on the editor's side: opening it (a worker: app.tui.files), watching it for edits
made in another editor and merging them (asking the writer when one changes the node being edited),
saving and exporting.

FileSync drives the editor widget it is given (to see and take the writer's pending edit) and the
screen's notes and dialogs; the screen passes in the session, routes the file messages here, and hears
back through ExternalEditMerged and ChangeRefused (app.tui.messages) when the document changed.
"""

from __future__ import annotations

from textual.screen import Screen

from app.session import Session
from app.store.errors import ConflictError
from app.sync import FileWatcher, content_hash
from app.tui import files
from app.tui.messages import ChangeRefused, ExternalEditMerged
from app.tui.options import EditorOptions
from app.tui.screens.dialogs import Choice, TextPrompt
from app.tui.widgets.editor import NodeEditor
from engine.document import Document, InputRefused


class FileSync:
    def __init__(self, screen: Screen, options: EditorOptions, editor: NodeEditor) -> None:
        self.screen = screen  # where its workers run, its notes and dialogs show and its messages go
        self.options = options
        self.editor = editor
        self.watch: files.Watch | None = None

    def open(self) -> None:
        """Open the document in a thread worker: DocumentOpened (first a provisional one for a small file),
        or DocumentOpenFailed."""
        path, db_path, post = self.options.path, self.options.db_path, self.screen.post_message
        self.screen.run_worker(lambda: files.open_document(path, db_path, post), name="open document",
                               thread=True, exclusive=True, group="open", exit_on_error=False)

    # -- watching ----------------------------------------------------------------------------------------

    def start_watching(self, session: Session) -> None:
        if not self.options.watch:
            return
        self.watch = files.Watch(session, self.screen.post_message)
        self.screen.run_worker(self.watch.run, thread=True, group="watch", name="file watcher", exit_on_error=False)

    @property
    def watcher(self) -> FileWatcher | None:
        return self.watch.watcher if self.watch is not None else None

    def stop_watching(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    def file_deleted(self, session: Session) -> None:
        session.disk_hash = None
        self.screen.notify(f"{session.name} was deleted or moved away. Your text is safe here; ctrl+s writes it "
                           "again.", title="File gone", severity="warning", timeout=10)

    def file_changed(self, session: Session, data: bytes) -> bool:
        """The file now holds `data`: merge it in (ExternalEditMerged), first asking the writer which
        version to keep if it changes the node being edited. True when it holds the document as it is."""
        try:
            text = Document.from_bytes(data).to_markdown()
        except InputRefused as exc:
            self.screen.notify(f"ignored the new content of {session.name}: {exc}", severity="error", timeout=10)
            return False
        session.disk_hash = content_hash(text)
        if text == session.markdown:
            return True
        editing = self.editor.node_id if self.editor.dirty else None
        if editing is not None and editing in session.changed_by(text):
            def decide(choice: str | None) -> None:
                mine = self.editor.take_pending() if choice == "mine" else None
                if choice != "mine":
                    self.editor.take_pending()
                self._merge(session, text, keep=mine)

            self.screen.app.push_screen(Choice(
                "The file changed on disk", f"{session.name} was edited elsewhere, and that edit changes the "
                "node you are editing here. Which version of it do you want?",
                [("theirs", "Take the file's version"), ("mine", "Keep my edit")]), decide)
            return False
        self._merge(session, text)
        return False

    def _merge(self, session: Session, text: str, keep: tuple[str, str] | None = None) -> None:
        """Merge `text` (the file as it is now) into the tree as an `external` revision; `keep`: the
        writer's pending edit (node id, text) to apply on top afterwards."""
        try:
            changed, revisions = session.merge_external(text)
        except ConflictError as exc:
            self.screen.post_message(ChangeRefused("the file's new content", exc))
            return
        self.screen.notify(f"{session.name} changed on disk: merged ({len(changed)} nodes, "
                           f"{len(revisions)} revisions).", title="External edit")
        self.screen.post_message(ExternalEditMerged(keep))

    # -- saving and exporting ----------------------------------------------------------------------------

    def save(self, session: Session) -> bool:
        """Write the document to its file (the writer's pending edit is recorded: the screen's part)."""
        if self.watcher is not None:
            self.watcher.remember(session.markdown)  # before writing: the event of our own save must be known
        try:
            session.save()
        except OSError as exc:
            self.screen.notify(f"could not save {session.name}: {exc.strerror or exc}. Nothing is lost: the text "
                               "is in the revision store; try again or export elsewhere.", severity="error",
                               timeout=10)
            return False
        return True

    def export(self, session: Session) -> None:
        """Ask where to, then write the document there."""
        default = str(session.path.with_name(session.path.stem + "-export.md"))

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                target = session.export(path)
            except OSError as exc:
                self.screen.notify(f"could not export: {exc.strerror or exc}", severity="error")
                return
            self.screen.notify(f"exported to {target}")

        self.screen.app.push_screen(TextPrompt("Export the document to", value=default), done)
