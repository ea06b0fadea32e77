"""Files: open (in a worker: import or resume from the store), save atomically, export, quit, and the
watcher that merges edits made to the file in another editor."""

from __future__ import annotations

import threading
import time

from textual import work

from engine.document import Document, InputRefused
from app.sync import FileWatcher, content_hash
from app.tui.messages import DocumentOpened, DocumentOpenFailed, FileChangedOnDisk, FileDeleted
from app.tui.screens.dialogs import Choice, TextPrompt
from app.tui.session import Session


QUICK_PREVIEW_BYTES = 256_000  # smaller files are shown from the file at once, while the store opens


class FilesMixin:
    watcher: FileWatcher | None = None
    _watch_stop: threading.Event | None = None

    # -- open ----------------------------------------------------------------------------------------

    def start_open(self) -> None:
        self._open_worker()

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open_worker(self) -> None:
        started = time.perf_counter()
        try:
            preview = None
            if not self.path.exists() or self.path.stat().st_size < QUICK_PREVIEW_BYTES:
                preview = Session.preview_of(self.path)
                self.post_message(DocumentOpened(preview, time.perf_counter() - started))
            # the preview's tree (read-only while provisional) is imported as it is: parsed once, same ids
            session = Session.open(self.path, self.db_path, parsed=preview.doc if preview is not None else None)
        except InputRefused as exc:
            self.post_message(DocumentOpenFailed(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - say it, keep running
            self.post_message(DocumentOpenFailed(f"cannot open {self.path.name}: {exc}"))
            return
        self.post_message(DocumentOpened(session, time.perf_counter() - started))

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
        if self.watch_file:
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

    def load_engine_if_wanted(self) -> None:
        if self.should_load_engine and self.engine is None:
            self.should_load_engine = False
            self.start_engine_load()

    # -- watch ---------------------------------------------------------------------------------------

    def start_watching(self) -> None:
        self.watcher = FileWatcher(self.session.path, lambda data: self.post_message(FileChangedOnDisk(data)),
                                   lambda: self.post_message(FileDeleted()))
        self.watcher.remember(self.session.path.read_bytes() if self.session.path.exists() else b"")
        self._watch_stop = threading.Event()
        self.run_worker(lambda: self.watcher.run(self._watch_stop), thread=True, group="watch",
                        name="file watcher", exit_on_error=False)

    def stop_watching(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()

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
        from app.actions import changed_nodes

        changed = set(changed_nodes(self.session.doc, new))
        editing = self.editor.node_id if self.editor.dirty else None
        if editing is not None and editing in changed:
            def decide(choice: str | None) -> None:
                mine = self.editor.take_pending() if choice == "mine" else None
                if choice != "mine":
                    self.editor.take_pending()
                self._merge_external(text, keep=mine)

            self.push_screen(Choice(
                "The file changed on disk", f"{self.session.name} was edited elsewhere, and that edit changes the "
                "node you are editing here. Which version of it do you want?",
                [("theirs", "Take the file's version"), ("mine", "Keep my edit")]), decide)
            return
        self._merge_external(text)

    def _merge_external(self, text: str, keep: tuple[str, str] | None = None) -> None:
        """Merge `text` (the file as it is now) into the tree as an `external` revision; `keep`: the
        writer's pending edit (node id, text) to apply on top afterwards."""
        doc = Document.from_records(self.session.doc.records())
        changed = doc.merge_markdown(text)
        revisions = self.session.commit(doc, author="external", operation="edit", level="document")
        self.session.disk_hash = content_hash(text)
        self.session.remember_disk(self.session.disk_hash)
        self.show_document()
        self.notify(f"{self.session.name} changed on disk: merged ({len(changed)} nodes, "
                    f"{len(revisions)} revisions).", title="External edit")
        if keep is not None and keep[0] in self.session.doc:
            self.record_edit(*keep)
            self.show_document(select=keep[0])
        self.refresh_history()

    # -- save, export, quit --------------------------------------------------------------------------

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

        self.push_screen(TextPrompt("Export the document to", value=default), done)

    async def action_quit(self) -> None:
        if self.generation is not None:
            self.generation.cancel.set()
        if self.session is not None:
            self.record_pending_edit()
            if self.autosave and not self.session.saved:
                self.save_now()
        self.stop_watching()
        self.exit(0)

    def on_unmount(self) -> None:
        self.stop_watching()
        if self.generation is not None:
            self.generation.cancel.set()
        if self.session is not None:
            self.session.close()
