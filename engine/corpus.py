"""Training documents: the shared corpus, folders of Markdown, the writer's history pairs, and the split.

Sources: the corpus (`corpus_dir()/*.jsonl.xz`, records {"id", "source", "title", "text"}), any folder of
.md/.txt files, single Markdown files, and JSON lines of `HistoryPair`s (written by app.history; nothing
here imports app). Documents are split into train/validation deterministically by a hash of their id.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from engine.augment import augment as rewrite
from engine.protocol import HistoryPair


def corpus_dir() -> Path:
    """The shared corpus folder: $SCRIBA_SHARED/corpus, else ../shared/corpus beside the checkout."""
    shared = os.environ.get("SCRIBA_SHARED")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    return base / "corpus"


@dataclass
class SourceDoc:
    id: str
    source: str
    title: str
    text: str


def read_history_jsonl(path: str | Path) -> list[HistoryPair]:
    """History pairs saved one JSON object a line (the fields of HistoryPair)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(HistoryPair(**json.loads(line)))
    return out


def read_jsonl(path: str | Path) -> Iterator[SourceDoc]:
    """Documents of a .jsonl or .jsonl.xz file (records need "text"; "id", "source", "title" optional)."""
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    default_source = path.name.split(".")[0]
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise ValueError(f"{path}:{n + 1}: a record needs a string 'text' field")
            yield SourceDoc(str(rec.get("id", f"{default_source}-{n}")), str(rec.get("source", default_source)),
                            str(rec.get("title", "")), rec["text"])


def read_folder(path: str | Path) -> Iterator[SourceDoc]:
    """Every .md / .txt file under a folder (sorted; id = relative path, source = the folder's name)."""
    path = Path(path)
    for f in sorted(p for p in path.rglob("*") if p.suffix in (".md", ".txt") and p.is_file()):
        text = f.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        yield SourceDoc(str(f.relative_to(path)), path.name, f.stem, text)


def iter_documents(paths: Iterable[str | Path] | None = None) -> Iterator[SourceDoc]:
    """Documents of corpus files, folders and single Markdown files (default: the shared corpus)."""
    if paths is None or not list(paths):
        paths = sorted(corpus_dir().glob("*.jsonl.xz"))
        if not paths:
            raise FileNotFoundError(f"no corpus at {corpus_dir()} (set SCRIBA_SHARED or pass data paths)")
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from read_folder(p)
        elif p.name.endswith((".jsonl", ".jsonl.xz")):
            yield from read_jsonl(p)
        elif p.suffix in (".md", ".txt"):
            yield SourceDoc(p.name, p.parent.name or "files", p.stem, p.read_text(encoding="utf-8"))
        else:
            raise ValueError(f"do not know how to read {p} (.jsonl.xz, .jsonl, .md, .txt or a folder)")


def is_validation(doc_id: str, val_fraction: float) -> bool:
    """Deterministic split by a hash of the document id (stable across runs, machines and Python versions)."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")
    return (h % 1_000_000) < val_fraction * 1_000_000


def split_documents(docs: Iterable[SourceDoc], val_fraction: float) -> tuple[list[SourceDoc], list[SourceDoc]]:
    train, val = [], []
    for d in docs:
        (val if is_validation(d.id, val_fraction) else train).append(d)
    return train, val


def load_documents(paths: list[str] | None, val_fraction: float, limit: int | None = None, augment: float = 0.0
                   ) -> tuple[list[SourceDoc], list[SourceDoc]]:
    """(train, validation) documents of `paths` (default: the shared corpus), at most `limit` of them. An
    `augment` share of the training documents is rewritten whole into other formats (engine.augment: hard
    wrapping, CRLF, bullets, setext headings, indented code); validation documents stay as they are, so
    validation numbers compare across runs."""
    docs = []
    for d in iter_documents(paths or None):
        docs.append(d)
        if limit and len(docs) >= limit:
            break
    train, val = split_documents(docs, val_fraction)
    if augment:
        train = [SourceDoc(d.id, d.source, d.title, rewrite(d.id, d.text, augment)) for d in train]
    return train, val
