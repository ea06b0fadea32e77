"""`scriba inspect [--model DIR] TEXT|-|--file PATH [--json]`: chunk boundaries and next-byte entropy."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from app.cli.engine_commands import engine_header, engine_json, load_engine_for
from app.cli.options import add_engine_options, refuse
from engine.evaluate import InputRefused, check_text, format_summary, read_text_file, render_inspection, summarize
from engine.protocol import EngineUnavailable

NAME = "inspect"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="show the model's chunk boundaries and next-byte entropy on a text")
    p.add_argument("text", nargs="?", help="the text to inspect ('-': read standard input)")
    p.add_argument("--file", help="inspect this file's text instead")
    p.add_argument("--json", action="store_true")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def read_input(args) -> bytes:
    """The bytes to inspect: TEXT, standard input ('-') or --file's; InputRefused if they are not text."""
    if args.file:
        return read_text_file(args.file)
    if args.text == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        return check_text(data, "<stdin>")
    try:
        return check_text(args.text.encode("utf-8"), "TEXT")
    except UnicodeEncodeError:  # undecodable bytes in argv arrive as lone surrogates
        raise InputRefused("TEXT: not UTF-8 text") from None


def run(args) -> int:
    if (args.file is None) == (args.text is None):
        return refuse("give TEXT ('-': standard input) or --file PATH, one of them", NAME, code=2)
    try:
        data = read_input(args)
        engine = load_engine_for(args)
    except (InputRefused, EngineUnavailable) as exc:
        return refuse(str(exc) or type(exc).__name__, NAME)
    ins = engine.inspect(data.decode("utf-8"))
    summary = summarize(ins)
    if args.json:
        r4 = lambda xs: [round(x, 4) for x in xs]  # noqa: E731
        print(json.dumps(dict(engine_json(engine), text=ins.text, **summary, boundaries=ins.boundaries,
                              entropy=r4(ins.entropy), surprisal=r4(ins.surprisal)), ensure_ascii=False))
        return 0
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(engine_header(NAME, engine))
    if ins.text:
        print(render_inspection(ins, shutil.get_terminal_size((100, 24)).columns, color))
    print(format_summary(summary))
    return 0
