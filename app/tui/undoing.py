"""Document-level undo and redo in the editor (ctrl+z, ctrl+y / ctrl+shift+z outside the text editor,
which keeps its own undo of the text being typed): the writer's pending edit is recorded first, then the
session undoes the document's last change through the store (app.undo: a new revision, nothing leaves
the history), and the document is shown again with a one-line note of what was undone."""

from __future__ import annotations

from textual.screen import Screen

from app.store.errors import StoreError
from app.tui.document_view import DocumentView
from app.undo import NothingToUndo


class DocumentUndo:
    def __init__(self, screen: Screen, view: DocumentView) -> None:
        self.screen = screen  # where its notes go
        self.view = view

    def run(self, redo: bool = False) -> None:
        view, verb = self.view, "redo" if redo else "undo"
        if not view.ready_to_change():
            return
        session = view.session
        view.record_pending_edit()  # what was typed is the last change: undone first, never lost

        def recorded(result) -> None:  # in the background: after the commits queued before it
            if isinstance(result.error, NothingToUndo):
                self.screen.notify(str(result.error), severity="warning", timeout=3)
            elif result.error is not None:
                self.screen.notify(f"could not {verb}: {result.error}", severity="error")
            else:
                self.done(redo, result.request.what)

        try:
            outcome = session.undo(redo, then=recorded)
        except NothingToUndo as exc:
            self.screen.notify(str(exc), severity="warning", timeout=3)
            return
        except StoreError as exc:
            self.screen.notify(f"cannot {verb}: {exc}", severity="error")
            return
        if outcome is not None:  # recorded at once (no store worker)
            self.done(redo, outcome[0].label)

    def done(self, redo: bool, what: str) -> None:
        self.view.show_document()
        self.view.refresh_history()
        again = "ctrl+z undoes it again" if redo else "ctrl+y redoes it"
        self.screen.notify(f"{'redid' if redo else 'undid'} {what} ({again})", timeout=4)
