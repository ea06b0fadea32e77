"""The open Markdown file on disk: atomic saves, and a watcher that reports edits made elsewhere.

    atomic_write(path, text)          write a temp file in the same folder, fsync, os.replace (then fsync the dir);
                                      symlinks written through, modes kept, read-only files refused
    content_hash(data)                what "the same content" means (blake2b of the bytes)
    read_settled(path)                the file's bytes once another editor has finished writing it
    FileWatcher(path, on_change, on_delete, on_error=…).run(stop)   blocking loop for a thread worker (watchfiles)

The watcher watches the file's folder (an atomic save by another editor replaces the file, so a watch on
the file itself would be lost), filters events for this file, and compares the content hash with the one
last written or read by us (`FileWatcher.known`), so our own saves never come back as external edits.
No Textual here: the TUI runs `run` in a thread worker and posts messages from the callbacks.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger("scriba.sync")


def content_hash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def atomic_write(path: str | Path, text: str) -> str:
    """Write `text` (UTF-8, newlines kept as they are) to `path` atomically; returns the content hash.
    Either the old file or the complete new one is on disk at every moment, never a partial one.

    A symlink is written through (its target is replaced, the link stays); an existing file keeps its
    mode, and a read-only one is refused (PermissionError) rather than replaced; a new file gets the
    mode the umask gives (as `open` would). Temp files that earlier writes left behind when they were
    killed are removed once they are over a minute old."""
    path = Path(os.path.realpath(path))  # a symlink: its target, in the target's folder
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    _remove_stale_temps(path)
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)  # mkstemp made it 0600
            os.fsync(fh.fileno())
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


TEMP_SUFFIX = ".tmp"
STALE_AFTER_S = 60.0  # a temp file this old belongs to no write still running


def _mode_for(path: Path) -> int:
    """The mode the written file gets: the existing file's, or what the umask leaves of 0666."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0o666 & ~_umask()
    if not stat.S_ISREG(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
    # the owner's write bit is how a file is marked read-only (root may write anyway: honour the mark)
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, "the file is read-only (scriba will not replace it)", str(path))
    return stat.S_IMODE(st.st_mode)


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask can only be read by
    setting it, which races with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temps(path: Path) -> None:
    """Remove `atomic_write`'s own temp files for `path` (mkstemp's names: .NAME.XXXXXXXX.tmp) that are
    over `STALE_AFTER_S` old: a write that was killed between creating and renaming one."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
    cutoff = time.time() - STALE_AFTER_S
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        try:
            if (pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff):
                os.unlink(entry.path)
        except OSError:
            log.warning("cannot remove the stale temp file %s", entry.path)


def read_settled(path: str | Path, previous_size: int | None = None, *, settle_s: float = 0.5,
                 suspicious_s: float = 1.5, limit_s: float = 10.0) -> bytes:
    """The file's bytes once it has stopped changing: two reads `settle_s` apart that agree (size, mtime,
    content). Another editor may rewrite a file in place in several writes; a read in between sees it
    empty or cut short, which merged would delete most of the document. So a read that is empty or less
    than half of `previous_size` (the last size we knew) must hold still for `suspicious_s` instead.
    Gives up waiting after `limit_s` and returns the last read. FileNotFoundError when it is gone."""
    deadline = time.monotonic() + limit_s
    data, stamp = _read_stamped(path)
    while True:
        suspicious = previous_size is not None and previous_size > 0 and len(data) * 2 < previous_size
        wait = suspicious_s if suspicious else settle_s
        if wait <= 0 or time.monotonic() >= deadline:
            return data
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        again, stamp_again = _read_stamped(path)
        if again == data and stamp_again == stamp:
            return data
        data, stamp = again, stamp_again


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        info = folder.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _read_stamped(path: str | Path) -> tuple[bytes, tuple[int, int]]:
    path = Path(path)
    with path.open("rb") as fh:
        info = os.fstat(fh.fileno())
        return fh.read(), (info.st_size, info.st_mtime_ns)


class FileWatcher:
    """Calls `on_change(data: bytes)` when the file's content changes to something we did not write or
    read ourselves (once it has settled: `read_settled`), `on_delete()` when it disappears, and
    `on_error(reason: str)` when watching stops working (the OS watch failed, or the folder itself was
    moved or deleted): the save-time check (app.session) keeps the file safe even then. `known` is the
    hash of the content we last saw."""

    def __init__(self, path: str | Path, on_change: Callable[[bytes], None],
                 on_delete: Callable[[], None] | None = None, *, debounce_ms: int = 150,
                 settle_s: float = 0.4, on_error: Callable[[str], None] | None = None):
        self.path = Path(path).resolve()
        self.on_change = on_change
        self.on_delete = on_delete
        self.on_error = on_error
        self.debounce_ms = debounce_ms
        self.settle_s = settle_s
        self._known: str | None = None
        self._known_size: int | None = None
        self._lock = threading.Lock()
        self.ready = threading.Event()  # set once the OS watch is in place
        self.failure: str | None = None  # why watching stopped, if it did

    @property
    def known(self) -> str | None:
        with self._lock:
            return self._known

    def remember(self, data: bytes | str) -> None:
        """Our own save or read: events for this content are not external edits."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._lock:
            self._known = content_hash(data)
            self._known_size = len(data)

    def check(self) -> None:
        """Look at the file now and report a change or a deletion (also used after each watch event)."""
        with self._lock:
            previous_size = self._known_size
        try:
            data = read_settled(self.path, previous_size, settle_s=self.settle_s)
        except FileNotFoundError:
            with self._lock:
                gone = self._known is not None
                self._known = self._known_size = None
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
            self._known, self._known_size = digest, len(data)
        self.on_change(data)

    def run(self, stop: threading.Event) -> None:
        """Block, watching, until `stop` is set (run it in a thread worker). A failure is logged and
        reported to `on_error`, never raised: it must not take the app down, nor go unnoticed."""
        from watchfiles import watch  # noqa: PLC0415 - its Rust extension loads only when watching starts

        folder, name = self.path.parent, self.path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            identity = _identity(folder)
            for changes in watch(folder, stop_event=stop, debounce=self.debounce_ms, step=50,
                                 rust_timeout=200, yield_on_timeout=True, recursive=False):
                self.ready.set()
                if stop.is_set():
                    return
                if _identity(folder) != identity:  # the OS watch went with the old folder: it sees nothing now
                    self._failed(f"the folder {folder} was moved or deleted")
                    return
                if any(Path(p).name == name for _, p in changes):
                    self.check()
        except Exception as exc:  # noqa: BLE001 - reported, not raised: see the docstring
            log.warning("file watcher for %s stopped", self.path, exc_info=True)
            self._failed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _failed(self, reason: str) -> None:
        self.failure = reason
        self.ready.set()  # nobody waits for a watch that will never be in place
        if self.on_error is not None:
            self.on_error(reason)
