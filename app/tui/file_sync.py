"""The document's file, on the editor's side: opening it (a worker: app.tui.files), watching it for edits
made in another editor and merging them (asking the writer when one changes the node being edited),
saving and exporting.

An edit made elsewhere is merged three-way (app.session.Session.merge_external): what only the file
changed comes in, a node changed on both sides (recorded or still in the editor) is asked about, with
the editor's pending text held with the question. A save first looks at the file on disk, so a change
the watcher missed (network folders, inotify limits, a watcher that stopped) is merged, not overwritten.

FileSync drives the editor widget it is given (to see and take the writer's pending edit) and the
screen's notes and dialogs; the screen passes in the session, routes the file messages here, and hears
back through ExternalEditMerged and ChangeRefused (app.tui.messages) when the document changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.screen import Screen

from app import recent
from app.session import MergeOutcome, Session
from app.store.errors import ConflictError
from app.sync import FileWatcher
from app.tui import files
from app.tui.messages import ChangeRefused, ExternalEditMerged
from app.tui.options import EditorOptions
from app.tui.screens.dialogs import Choice, TextPrompt
from app.tui.screens.open_file import OpenFileScreen
from app.tui.widgets.editor import NodeEditor
from engine.document import Document, InputRefused


class FileSync:
    def __init__(self, screen: Screen, options: EditorOptions, editor: NodeEditor) -> None:
        self.screen = screen  # where its workers run, its notes and dialogs show and its messages go
        self.options = options
        self.editor = editor
        self.watch: files.Watch | None = None
        self.asking = False  # the question about a conflicting edit is on screen
        self._after_answer: list[bytes] = []  # the file's content seen while asking: merged once answered
        self._save_after_answer = False

    def open(self) -> None:
        """Open the document in a thread worker: DocumentOpened (first a provisional one for a small file),
        or DocumentOpenFailed."""
        path, db_path, post = self.options.path, self.options.db_path, self.screen.post_message
        self.screen.run_worker(lambda: files.open_document(path, db_path, post), name="open document",
                               thread=True, exclusive=True, group="open", exit_on_error=False)

    # -- another file: open (ctrl+o, with the recent files), save as --------------------------------------

    def choose_file(self) -> None:
        """The open-file dialog (recent files, the folder's tree, a path); opens the file chosen."""
        current = self.options.path.expanduser().resolve()
        others = [p for p in recent.load(self.options.db_path) if p.resolve() != current]
        self.screen.app.push_screen(OpenFileScreen(current.parent, others), self.open_other)

    def open_other(self, path: Path | None) -> None:
        """Edit `path` in place of this document: this one is left as on quitting (pending edit recorded,
        autosaved, watcher stopped, store closed); a new main screen opens `path`, with the same model."""
        if path is None:
            return
        path = Path(path).expanduser()
        if path.is_dir():
            self.screen.notify(f"{path} is a folder: choose a file", severity="error")
            return
        if path.resolve() == self.options.path.expanduser().resolve():
            self.screen.notify(f"{path.name} is already open", timeout=3)
            return
        self.screen.app.call_later(self._replace_screen, path)  # once the dialog that chose it is gone

    def _replace_screen(self, path: Path) -> None:
        old, app = self.screen, self.screen.app
        if app.screen is not old:  # another dialog is up meanwhile: open from under it
            return self.screen.notify("close the dialog first, then open the file again", severity="warning")
        old.leave()
        new = type(old)(dataclasses.replace(self.options, path=path), old.assistant.engine)
        app.main = new
        if app.screen_stack[0] is old:  # the app's first screen cannot be switched away: the new one goes on top
            app.push_screen(new)
        else:
            app.switch_screen(new)
        old.close()

    def save_as(self, session: Session) -> None:
        """Ask for a new file name, write the document there and go on editing that file (its history
        starts from this text; the old file keeps its own). An existing file is never overwritten."""
        def chosen(answer: str | None) -> None:
            if not answer:
                return
            target = Path(answer).expanduser()
            if not target.is_absolute():
                target = session.path.parent / target
            if target.exists():
                self.screen.notify(f"{target} exists: choose another name (or open it with ctrl+o)",
                                   severity="error")
                return
            self.screen.view.record_pending_edit()
            try:
                session.export(target)
            except OSError as exc:
                self.screen.notify(f"could not save as {target}: {exc.strerror or exc}. Nothing is lost.",
                                   severity="error", timeout=10)
                return
            self.screen.notify(f"saved as {target}", timeout=3)
            self.open_other(target)

        default = str(session.path.with_name(session.path.stem + "-copy" + session.path.suffix))
        self.screen.app.push_screen(TextPrompt("Save the document as", value=default), chosen)

    # -- watching ----------------------------------------------------------------------------------------

    def start_watching(self, session: Session) -> None:
        if not self.options.watch:
            return
        self.watch = files.Watch(session, self.screen.post_message)
        app = self.screen.app
        self.watch.watcher.on_error = lambda reason: app.call_from_thread(self.not_watching, session, reason)
        self.screen.run_worker(self.watch.run, thread=True, group="watch", name="file watcher", exit_on_error=False)

    def not_watching(self, session: Session, reason: str) -> None:
        self.screen.notify(f"not watching {session.name}: {reason}. Saving still merges an edit made elsewhere "
                           "first.", title="File watcher stopped", severity="warning", timeout=10)

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
        """The file now holds `data`: merge it in three-way (ExternalEditMerged), first asking the writer
        which version to keep of the nodes changed on both sides. True when it holds the document as it is."""
        if self.asking:  # one question at a time: this content is merged once the writer has answered
            self._after_answer.append(data)
            return False
        try:
            text = Document.from_bytes(data).to_markdown()
        except InputRefused as exc:
            self.screen.notify(f"ignored the new content of {session.name}: {exc}", severity="error", timeout=10)
            return False
        if text == session.markdown and not self.editor.dirty:
            session.merge_external(text)  # nothing to merge: the file holds the document (the next base)
            return True
        editing = self.editor.node_id if self.editor.dirty else None
        merge = session.external_merge(text, editing)
        if not merge.conflicts:
            self._merge(session, text, keep=None)
            return False
        # the pending edit goes with the question: the editor's idle timer must not record it meanwhile
        pending = self.editor.take_pending()
        if pending is not None:
            self.editor.border_subtitle = "editing…"  # still the writer's text, held with the question
        self.asking = True

        def decide(choice: str | None) -> None:
            self.asking = False
            mine = choice == "mine"
            self._merge(session, text, keep=pending if mine else None, prefer="ours" if mine else "theirs",
                        editing=pending[0] if pending is not None else None)
            if self._after_answer:
                self.file_changed(session, self._after_answer.pop())
                self._after_answer.clear()
            elif self._save_after_answer:
                self._save_after_answer = False
                self.screen.save_now()

        count = len(merge.conflicts)
        what = "the node you are editing here. Which version of it" if count == 1 and editing in merge.conflicts \
            else f"{count} node{'s' * (count > 1)} you changed here. Which version of them"
        self.screen.app.push_screen(Choice(
            "The file changed on disk", f"{session.name} was edited elsewhere, and that edit changes {what} do "
            "you want?", [("theirs", "Take the file's version"), ("mine", "Keep my edit")]), decide)
        return False

    def _merge(self, session: Session, text: str, keep: tuple[str, str] | None, prefer: str = "ours",
               editing: str | None = None) -> None:
        """Merge `text` (the file as it is now) into the tree; `keep`: the writer's pending edit (node
        id, text) to record on top afterwards."""
        try:
            outcome = session.merge_external(text, prefer=prefer, editing=editing)
        except ConflictError as exc:
            self.screen.post_message(ChangeRefused("the file's new content", exc))
            return
        self.screen.notify(describe(session.name, outcome, keep is not None), title="External edit")
        self.screen.post_message(ExternalEditMerged(keep))

    # -- saving and exporting ----------------------------------------------------------------------------

    def save(self, session: Session) -> bool:
        """Write the document to its file (the writer's pending edit is recorded: the screen's part). A
        file changed on disk since it was last read or written is merged first; when that asks the
        writer, the save waits for the answer (False meanwhile)."""
        if self.asking:
            self._save_after_answer = True
            return False
        text = session.changed_on_disk()
        if text is not None:
            self.file_changed(session, text.encode("utf-8"))
            if self.asking:
                self._save_after_answer = True
                return False
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


def describe(name: str, outcome: MergeOutcome, pending_kept: bool) -> str:
    """The note after a merge: what came in from the file, and what of the writer's was kept."""
    def nodes(n: int) -> str:
        return f"{n} node{'s' * (n != 1)}"

    parts = [f"{name} changed on disk: merged {nodes(len(outcome.taken))} from the file"]
    if outcome.kept:
        parts.append(f"kept your version of {nodes(len(outcome.kept))} changed on both sides (the file's is in "
                     "the history)")
    elif pending_kept:
        parts.append("kept your edit")
    return "; ".join(parts) + f" ({len(outcome.revisions)} revisions)."
