"""`scriba check-roundtrip [PATH…]`: Markdown → tree → Markdown over the corpus (or given files), exactly."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.cli.options import refuse
from engine.corpus import corpus_dir
from engine.document.roundtrip import check_corpus_roundtrip

NAME = "check-roundtrip"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="import/export every corpus document and report exactness")
    p.add_argument("paths", nargs="*", help="corpus .jsonl.xz files or Markdown files (default: the corpus)")
    return p


def run(args) -> int:
    """Print the failures and a summary line; exit status 1 if any document does not round-trip."""
    paths = args.paths or [corpus_dir()]
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        return refuse(f"not found: {', '.join(missing)}")
    start = time.perf_counter()
    count, failures = check_corpus_roundtrip(paths)
    for line in failures:
        print(line)
    print(f"{count} documents, {len(failures)} failures, {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0
