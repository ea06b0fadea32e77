"""`scriba samples [--model DIR] --out FILE.md [--seeds 0,1,2] [--max-bytes N]`: a Markdown report of
candidates of every writing action on a fixed set of held-out documents and nodes (engine/samples.py), to
commit beside each new model's card (assets/model/SAMPLES.md) and compare models side by side."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from app.cli.options import add_engine_options, refuse

NAME = "samples"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="write a Markdown report of candidates on fixed documents and nodes (every action)")
    p.add_argument("--out", required=True, metavar="FILE.md", help="where to write the report (replaced if it exists)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one candidate each (default 0,1,2)")
    p.add_argument("--max-bytes", type=int, help="at most this many bytes per candidate (below the report's caps)")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"--seeds {text!r}: give whole numbers separated by commas") from None
    if not seeds:
        raise ValueError("--seeds: give at least one seed")
    return seeds


def _write(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file beside it, then renamed over it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args) -> int:
    from engine import samples  # torch-free; the engine (torch) loads below

    try:
        seeds = _seeds(args.seeds)
    except ValueError as exc:
        return refuse(exc, NAME, code=2)
    if args.max_bytes is not None and args.max_bytes < 1:
        return refuse(f"--max-bytes {args.max_bytes}: give a positive number of bytes", NAME, code=2)
    out = Path(args.out).expanduser()
    if not out.parent.is_dir():
        return refuse(f"cannot write {args.out}: the folder {out.parent} does not exist", NAME)
    if args.model and not Path(args.model).expanduser().is_dir():
        return refuse(f"no model directory at {args.model}", NAME)
    config = samples.SamplesConfig(seeds=seeds)
    missing = [str(d) for d in config.documents if not (config.root / d).is_file()]
    if missing:
        return refuse(f"the sample documents are not here ({', '.join(missing)} under {config.root}); "
                      "run scriba samples from a source checkout", NAME)
    if args.max_bytes is not None:
        config.caps = {level: min(cap, args.max_bytes) for level, cap in config.caps.items()}

    from app.cli.engine_commands import engine_header, load_engine_for
    from engine.protocol import EngineUnavailable

    try:
        engine = load_engine_for(args)
    except EngineUnavailable as exc:
        return refuse(exc, NAME)
    print(engine_header(NAME, engine), file=sys.stderr)

    def progress(done: int, total: int, case) -> None:
        what = "refused" if case.refused else f"{sum(s.nbytes for s in case.samples)} bytes"
        print(f"[{done}/{total}] {case.document} {case.action} {case.target or 'document'}: {what}", file=sys.stderr)

    text = samples.report(engine, config, progress)
    try:
        _write(out, text)
    except OSError as exc:
        return refuse(f"cannot write {args.out}: {exc.strerror or exc}", NAME)
    print(f"{out}: {text.count(chr(10))} lines")
    return 0
