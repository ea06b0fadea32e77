"""`scriba eval [--model DIR] FILE... [--json]`: bits per byte (and xz -9e's) and bytes per chunk.

    scriba eval FILE...                 bits per byte, xz -9e's, bytes per chunk per stage
    scriba eval --heldout [DIR]         the held-out set (assets/heldout, its manifest), with per-group totals
    scriba eval --infill-gain [FILE...] bits per byte of the middle given prefix+suffix vs prefix only, per
                                        action and level (FILEs, else the corpus's validation documents)
    scriba eval --per-source            the runs' validation set (corpus, 1 % hash split), per source and kind
    scriba eval --instructions [FILE...]  how often candidates satisfy a trained instruction, with vs without it
    scriba eval --history DB_OR_JSONL   bits per byte of the writer's accepted revisions given their documents
"""

from __future__ import annotations

import argparse
import json

from app.cli.engine_commands import engine_header, engine_json, load_engine_for
from app.cli.options import add_engine_options, refuse
from engine import evaluate as ev
from engine.evaluate import InputRefused, evaluate_texts, format_table, load_texts
from engine.protocol import EngineUnavailable

NAME = "eval"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="bits per byte of a model on files", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--heldout", nargs="?", const="", metavar="DIR", help="the held-out set (default assets/heldout)")
    p.add_argument("--infill-gain", action="store_true", help="suffix's help per action and level")
    p.add_argument("--per-source", action="store_true", help="the corpus validation set, per source")
    p.add_argument("--instructions", action="store_true", help="instruction-following rates, with vs without")
    p.add_argument("--history", metavar="DB_OR_JSONL", help="bits per byte of the accepted revisions in this "
                   "store (or .jsonl of pairs), given their documents: before and after `train --from-history`")
    p.add_argument("--spans", type=int, default=64, help="spans per kind (--infill-gain, --instructions)")
    p.add_argument("--examples", type=int, default=256, help="validation examples (--per-source)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _docs(files):
    """SourceDocs of the files given, else the corpus's validation documents."""
    from engine.corpus import SourceDoc

    if files:
        return [SourceDoc(name, "files", name, data.decode("utf-8")) for name, data in load_texts(files)]
    try:
        return ev.corpus_validation_docs()
    except FileNotFoundError as exc:
        raise InputRefused(str(exc)) from None


def _history_pairs(path: str) -> list:
    from app.cli.train import read_history

    try:
        pairs = read_history(path, "--history")
    except (FileNotFoundError, ValueError) as exc:
        raise InputRefused(str(exc)) from None
    if not pairs:
        raise InputRefused(f"--history: no accepted revisions in {path}")
    return pairs


def run(args) -> int:
    modes = [m for m in ("infill_gain", "per_source", "instructions", "history") if getattr(args, m)]
    if args.heldout is not None:
        modes.append("heldout")
    if len(modes) > 1:
        return refuse("choose one of --heldout, --infill-gain, --per-source, --instructions, --history", NAME,
                      code=2)
    mode = modes[0] if modes else "files"
    if mode == "files" and not args.files:
        return refuse("give files to evaluate (or --heldout, --infill-gain, --per-source, --instructions)", NAME,
                      code=2)
    try:
        texts = load_texts(args.files) if mode == "files" else None  # every file checked before the model loads
        entries = ev.heldout_manifest(args.heldout or None) if mode == "heldout" else None
        docs = _docs(args.files) if mode in ("infill_gain", "per_source", "instructions") else None
        pairs = _history_pairs(args.history) if mode == "history" else None
        engine = load_engine_for(args)
    except (InputRefused, EngineUnavailable) as exc:
        return refuse(str(exc) or type(exc).__name__, NAME)
    depth = engine.model.config.depth
    if mode == "files":
        result = evaluate_texts(engine, texts)
        text = format_table(result, depth)
    elif mode == "heldout":
        result = ev.evaluate_heldout(engine, args.heldout or None)
        text = format_table(result, depth) + "\n" + ev.format_groups(result["groups"])
        del entries
    elif mode == "infill_gain":
        result = ev.infill_gain(engine, docs, per_kind=args.spans, seed=args.seed)
        text = ev.format_infill_gain(result)
    elif mode == "history":
        result = ev.history_bits(engine, pairs)
        text = f"{len(pairs)} accepted revisions from {args.history}\n" + ev.format_history_bits(result)
    elif mode == "per_source":
        result = ev.validation_by_source(engine, docs, n=args.examples)
        text = "\n".join(f"{k:32} {v:.4f}" for k, v in result.items())
    else:
        result = ev.instruction_eval(engine, docs, per_kind=args.spans, seed=args.seed)
        text = ev.format_instruction_eval(result)
    if args.json:
        print(json.dumps(dict(engine_json(engine), **({"result": result} if mode != "files" else result)), indent=2))
    else:
        print(engine_header(NAME, engine))
        print(text)
    return 0
