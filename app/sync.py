"""The open Markdown file on disk: atomic saves, and a watcher that reports edits made elsewhere.

    atomic_write(path, text)          write a temp file in the same folder, fsync, os.replace (then fsync the dir)
    content_hash(data)                what "the same content" means (blake2b of the bytes)
    FileWatcher(path, on_change, on_delete).run(stop)   blocking loop for a thread worker (watchfiles)

The watcher watches the file's folder (an atomic save by another editor replaces the file, so a watch on
the file itself would be lost), filters events for this file, and compares the content hash with the one
last written or read by us (`FileWatcher.known`), so our own saves never come back as external edits.
No Textual here: the TUI runs `run` in a thread worker and posts messages from the callbacks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger("scriba.sync")


def content_hash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def atomic_write(path: str | Path, text: str) -> str:
    """Write `text` (UTF-8, newlines kept as they are) to `path` atomically; returns the content hash.
    Either the old file or the complete new one is on disk at every moment, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except OSError:
                pass
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return content_hash(data)


class FileWatcher:
    """Calls `on_change(data: bytes)` when the file's content changes to something we did not write or
    read ourselves, and `on_delete()` when it disappears. `known` is the hash of the content we last saw."""

    def __init__(self, path: str | Path, on_change: Callable[[bytes], None],
                 on_delete: Callable[[], None] | None = None, *, debounce_ms: int = 150):
        self.path = Path(path).resolve()
        self.on_change = on_change
        self.on_delete = on_delete
        self.debounce_ms = debounce_ms
        self._known: str | None = None
        self._lock = threading.Lock()
        self.ready = threading.Event()  # set once the OS watch is in place

    @property
    def known(self) -> str | None:
        with self._lock:
            return self._known

    def remember(self, data: bytes | str) -> None:
        """Our own save or read: events for this content are not external edits."""
        with self._lock:
            self._known = content_hash(data)

    def check(self) -> None:
        """Look at the file now and report a change or a deletion (also used after each watch event)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            with self._lock:
                gone = self._known is not None
                self._known = None
            if gone and self.on_delete:
                self.on_delete()
            return
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return
        digest = content_hash(data)
        with self._lock:
            if digest == self._known:
                return
            self._known = digest
        self.on_change(data)

    def run(self, stop: threading.Event) -> None:
        """Block, watching, until `stop` is set (run it in a thread worker)."""
        from watchfiles import watch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        name = self.path.name
        try:
            for changes in watch(self.path.parent, stop_event=stop, debounce=self.debounce_ms, step=50,
                                 rust_timeout=200, yield_on_timeout=True, recursive=False):
                self.ready.set()
                if stop.is_set():
                    return
                if any(Path(p).name == name for _, p in changes):
                    self.check()
        except Exception as exc:  # noqa: BLE001 - a watcher failure must never take the app down
            log.warning("file watcher stopped: %s", exc)
