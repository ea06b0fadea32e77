"""Exact round-trip check over Markdown files and corpus JSONL(.xz) documents.

`check_corpus_roundtrip(paths)` imports every document and compares `to_markdown()` (and the
records → document → Markdown path) with the input, byte for byte. `scriba check-roundtrip` calls it;
`python -m engine.document.roundtrip [PATH…]` does the same on its own.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def corpus_dir() -> Path:
    shared = os.environ.get("SCRIBA_SHARED", Path(__file__).resolve().parents[3] / "shared")
    return Path(shared) / "corpus"


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
    from .nodes import InputRefused
    from .tree import Document

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


def check_roundtrip_command(paths: list[str] | None = None) -> int:
    """`scriba check-roundtrip [PATH…]`: print failures and a summary line; exit status 0 or 1."""
    paths = paths or [corpus_dir()]
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        print(f"scriba: not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    count, failures = check_corpus_roundtrip(paths)
    for line in failures:
        print(line)
    print(f"{count} documents, {len(failures)} failures, {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.document.roundtrip",
                                     description="check that Markdown import/export is exact")
    parser.add_argument("paths", nargs="*", help="files or folders (default: the shared corpus)")
    return check_roundtrip_command(parser.parse_args(argv).paths)


if __name__ == "__main__":
    sys.exit(main())
