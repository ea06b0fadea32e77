"""Other live scriba instances on the same document: each open editor keeps a small presence file
beside the store's journal (`<db>.journal/<key>.<pid>.alive`: pid, host, heartbeat time), refreshed
every few seconds and removed on quit. A file whose process is gone, or whose heartbeat is old (a
machine that went away), is stale: ignored and removed."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from app.journal import Journal, document_key, journal_folder

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0  # no heartbeat for this long: the instance is gone


@dataclass(frozen=True)
class Instance:
    pid: int
    host: str
    heartbeat: float


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class Presence:
    """This process's presence on one document, and the others'."""

    def __init__(self, db_path: Path, doc_path: Path, pid: int | None = None) -> None:
        self.db_path = Path(db_path)
        self.folder = journal_folder(self.db_path)
        self.doc_path = Path(doc_path)
        self.key = document_key(doc_path)
        self.pid = os.getpid() if pid is None else pid
        self.host = socket.gethostname()
        self.path = self.folder / f"{self.key}.{self.pid}.alive"

    def beat(self) -> None:
        """Say (again) that this instance has the document open."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": self.pid, "host": self.host, "heartbeat": time.time()}))
        os.replace(tmp, self.path)

    def leave(self) -> None:
        self.path.unlink(missing_ok=True)

    def others(self) -> list[Instance]:
        """The other live instances on this document (stale presence files are removed)."""
        found = []
        for path in self.folder.glob(f"{self.key}.*.alive"):
            if path == self.path:
                continue
            try:
                data = json.loads(path.read_text())
                other = Instance(int(data["pid"]), str(data["host"]), float(data["heartbeat"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced right now, or not ours
            local_dead = other.host == self.host and not _alive(other.pid)
            if local_dead or time.time() - other.heartbeat > STALE_SECONDS:
                path.unlink(missing_ok=True)
                continue
            found.append(other)
        return found

    def orphaned_journals(self) -> list[Journal]:
        """The journals of this document left by instances that are gone (crashed, killed): theirs to
        recover. A live window's journal is its own business. Called on opening, before this instance
        has written anything: a journal under its own pid is a dead process's (pids are reused)."""
        live = {other.pid for other in self.others()}
        journals = Journal.all_for_document(self.db_path, self.doc_path)
        return [journal for pid, journal in sorted(journals.items()) if pid not in live]
