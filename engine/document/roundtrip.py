"""Exact round-trip check over Markdown files and corpus JSONL(.xz) documents.

`check_corpus_roundtrip(paths)` imports every document and compares `to_markdown()` (and the
records → document → Markdown path) with the input, byte for byte. `scriba check-roundtrip`
(app/cli/check_roundtrip.py) calls it and prints the report.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterable, Iterator
from pathlib import Path

from .nodes import InputRefused
from .tree import Document


def iter_documents(paths: Iterable[str | Path]) -> Iterator[tuple[str, str]]:
    """(name, text) for each document: JSONL(.xz) lines with a "text" field, or whole files."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from iter_documents(sorted(p for p in path.rglob("*")
                                             if p.name.endswith((".jsonl.xz", ".jsonl", ".md"))))
        elif path.name.endswith((".jsonl.xz", ".jsonl")):
            opener = lzma.open if path.name.endswith(".xz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    rec = json.loads(line)
                    yield f"{path.name}:{rec.get('id', n)}", rec["text"]
        else:
            yield str(path), path.read_bytes().decode("utf-8", errors="surrogateescape")


def check_one(text: str) -> str | None:
    """None if `text` round-trips exactly, else a one-line description of the first difference."""
    try:
        doc = Document.from_markdown(text)
    except InputRefused as exc:
        return f"refused: {exc}"
    for how, out in (("to_markdown", doc.to_markdown()),
                     ("records", Document.from_records(doc.records()).to_markdown())):
        if out != text:
            at = next((i for i, (a, b) in enumerate(zip(out, text)) if a != b), min(len(out), len(text)))
            return f"{how} differs at offset {at}: {text[at:at + 30]!r} became {out[at:at + 30]!r}"
    return None


def check_corpus_roundtrip(paths: Iterable[str | Path]) -> tuple[int, list[str]]:
    """Round-trip every document under `paths`; returns (documents checked, failure lines)."""
    count, failures = 0, []
    for name, text in iter_documents(paths):
        count += 1
        problem = check_one(text)
        if problem:
            failures.append(f"{name}: {problem}")
    return count, failures
