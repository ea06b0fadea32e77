"""The journal of text in flight: what the writer typed and the store does not hold yet, on disk within
about a second, so that a crash, a kill or a locked database loses nothing.

One append-only JSON-lines file per editor process and document file, beside the store
(`<db>.journal/<key>.<pid>.jsonl`, the key a hash of the document's path: it works before the store
knows the document, and without a store; the pid keeps two live windows out of each other's journal —
only the journals of processes that are gone are recovered, see app.instances).
Each line is one entry: the node, the revision its text was typed on, the node's whole text, when. An
append is flushed and fsync'd before it returns; a torn last line (a kill mid-write) is skipped on
reading. The journal is emptied once the store has recorded everything it held.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class JournalEntry:
    node_id: str
    base_revision: int | None  # the store revision the text was typed on (None: no store)
    text: str  # the node's whole text as the writer left it
    at: float  # seconds since the epoch
    doc_id: str | None = None


def journal_folder(db_path: Path) -> Path:
    return Path(f"{db_path}.journal")


def document_key(doc_path: Path) -> str:
    return hashlib.sha256(str(Path(doc_path).resolve()).encode()).hexdigest()[:24]


def _fsync_folder(folder: Path) -> None:
    """A created or removed file survives a power cut only once its folder is synced."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_document(cls, db_path: Path, doc_path: Path, pid: int | None = None) -> "Journal":
        pid = os.getpid() if pid is None else pid
        return cls(journal_folder(Path(db_path)) / f"{document_key(doc_path)}.{pid}.jsonl")

    @staticmethod
    def all_for_document(db_path: Path, doc_path: Path) -> dict[int, "Journal"]:
        """Every journal of the document, by the pid that wrote it."""
        out = {}
        for path in journal_folder(Path(db_path)).glob(f"{document_key(doc_path)}.*.jsonl"):
            pid = path.name.split(".")[1]
            if pid.isdigit():
                out[int(pid)] = Journal(path)
        return out

    def write(self, node_id: str, base_revision: int | None, text: str, doc_id: str | None = None) -> None:
        """Append one entry, durable on return."""
        entry = JournalEntry(node_id, base_revision, text, time.time(), doc_id)
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        created = not self.path.exists()
        if created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_folder(self.path.parent)

    def entries(self) -> list[JournalEntry]:
        """The newest entry of each node, in the order the nodes were last written (torn lines skipped)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        latest: dict[str, JournalEntry] = {}
        for raw in data.splitlines():
            try:
                entry = JournalEntry(**json.loads(raw))
            except (ValueError, TypeError):
                continue  # the line a kill cut short
            latest.pop(entry.node_id, None)
            latest[entry.node_id] = entry
        return list(latest.values())

    def __bool__(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def clear(self, keep: list[JournalEntry] = ()) -> None:
        """Empty the journal (the store holds it all now), keeping `keep` (text still only here): the
        kept entries are written to a new file that replaces the old one atomically."""
        if not keep:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return
            _fsync_folder(self.path.parent)
            return
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for entry in keep:
                out.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        _fsync_folder(self.path.parent)
