"""`scriba eval [--model DIR] FILE... [--json]`: bits per byte (and xz -9e's) and bytes per chunk."""

from __future__ import annotations

import argparse
import json

from app.cli.engine_commands import engine_header, engine_json, load_engine_for
from app.cli.options import add_engine_options, refuse
from engine.evaluate import InputRefused, evaluate_texts, format_table, load_texts
from engine.protocol import EngineUnavailable

NAME = "eval"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="bits per byte of a model on files")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    try:
        texts = load_texts(args.files)  # every file checked before the model loads
        engine = load_engine_for(args)
    except (InputRefused, EngineUnavailable) as exc:
        return refuse(str(exc) or type(exc).__name__, NAME)
    result = evaluate_texts(engine, texts)
    if args.json:
        print(json.dumps(dict(engine_json(engine), **result), indent=2))
    else:
        print(engine_header(NAME, engine))
        print(format_table(result, engine.model.config.depth))
    return 0
