"""The file side of the editor, as thread-worker bodies that post typed messages: opening the document
(shown from the file at once while the store opens), and watching the file for edits made elsewhere."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from textual.message import Message

from app import recent
from app.session import Session
from app.sync import FileWatcher
from app.tui.messages import DocumentOpened, DocumentOpenFailed, FileChangedOnDisk, FileDeleted
from engine.document import InputRefused


def open_document(path: Path, db_path, post: Callable[[Message], object]) -> None:
    """Post DocumentOpened for a provisional view of the file (at any size: a big file is read while its
    import runs), then for the session with its store attached; DocumentOpenFailed with a one-line reason."""
    started = time.perf_counter()
    try:
        preview = Session.preview_of(path)
        post(DocumentOpened(preview, time.perf_counter() - started))
        # the preview's tree (read-only while provisional) is imported as it is: parsed once, same ids
        session = Session.open(path, db_path, parsed=preview.doc, recover=True, record=True)
    except InputRefused as exc:
        post(DocumentOpenFailed(str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - say it, keep running
        post(DocumentOpenFailed(f"cannot open {path.name}: {exc}"))
        return
    post(DocumentOpened(session, time.perf_counter() - started))
    recent.add(db_path, path)


class Watch:
    """The file watcher of one session and the event that stops it; `run` is a thread worker's body."""

    def __init__(self, session: Session, post: Callable[[Message], object]) -> None:
        self.watcher = FileWatcher(session.path, lambda data: post(FileChangedOnDisk(data)),
                                   lambda: post(FileDeleted()))
        self.watcher.remember(session.path.read_bytes() if session.path.exists() else b"")
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.watcher.run(self.stop_event)

    def stop(self) -> None:
        self.stop_event.set()
