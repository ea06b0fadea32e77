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

QUICK_PREVIEW_BYTES = 256_000  # smaller files are always shown from the file at once, while the store opens


def open_document(path: Path, db_path, post: Callable[[Message], object]) -> None:
    """Post DocumentOpened for a provisional view of the file (unless the store has a big file already:
    reading it back is quicker than parsing it), then for the session with its store attached;
    DocumentOpenFailed with a one-line reason."""
    started = time.perf_counter()
    try:
        preview = None
        if _shown_from_the_file(path, db_path):
            preview = Session.preview_of(path)
            post(DocumentOpened(preview, time.perf_counter() - started))
        # the preview's tree (read-only while provisional) is imported as it is: parsed once, same ids
        session = Session.open(path, db_path, parsed=preview.doc if preview is not None else None, recover=True,
                               record=True)
    except InputRefused as exc:
        post(DocumentOpenFailed(str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - say it, keep running
        post(DocumentOpenFailed(f"cannot open {path.name}: {exc}"))
        return
    post(DocumentOpened(session, time.perf_counter() - started))
    recent.add(db_path, path)


def _shown_from_the_file(path: Path, db_path) -> bool:
    """A small file, or one the store does not hold yet (its import takes longer than its parse): shown
    from the file while the store opens."""
    if not path.exists() or path.stat().st_size < QUICK_PREVIEW_BYTES:
        return True
    from app.store.db import default_db_path, holds_file
    from app.store.errors import StoreError

    try:
        db_file = Path(db_path).expanduser() if db_path is not None else default_db_path()
    except StoreError:
        return True
    return not holds_file(db_file, path.expanduser().resolve())


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
