"""`scriba` command line. Document commands never import torch (start-up stays fast); the engine
commands (generate, train, eval, inspect, bench) import it when they run.

Exit codes: 0 success, 1 refused input (one-line message), 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

COMMANDS = ("import", "export", "history", "tree", "generate", "train", "eval", "inspect", "bench",
            "check-roundtrip")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="revision database (default: $SCRIBA_DB or the user data dir)")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine and store details to stderr")


def _engine_opts(p: argparse.ArgumentParser, model_required: bool = False) -> None:
    p.add_argument("--model", required=model_required, help="model directory (default: the bundled model)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "mamba_ssm"],
                   help="Mamba-2 kernels: mamba_ssm (Triton, GPU) or torch (anywhere)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the GPU if there is one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scriba", description="Write long Markdown documents with a "
                                     "byte-level hierarchical model, at every level of the outline.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", help="import a Markdown file into the revision store")
    p.add_argument("file")
    _common(p)
    p = sub.add_parser("export", help="print a document (as it is now, or at a revision)")
    p.add_argument("doc", help="file path or document id")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.add_argument("--at", type=int, help="revision id: the whole document as it was then")
    _common(p)
    p = sub.add_parser("history", help="list the revisions of a document or of one node")
    p.add_argument("doc")
    p.add_argument("--node", help="node id (or unique prefix)")
    p.add_argument("--json", action="store_true")
    _common(p)
    p = sub.add_parser("tree", help="show the document tree with node ids")
    p.add_argument("doc")
    _common(p)

    p = sub.add_parser("generate", help="ask the model for candidates for one node (as the TUI does)")
    p.add_argument("file")
    p.add_argument("--action", required=True, choices=["expand", "rewrite", "summarise", "continue", "outline"])
    p.add_argument("--node", help="node id, id prefix, or index in `scriba tree` order")
    p.add_argument("--n", type=int, default=3, help="number of candidates")
    p.add_argument("--seed", type=int)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-bytes", type=int)
    p.add_argument("--instruction", help="for rewrite: what to change; for outline: the premise")
    p.add_argument("--json", action="store_true")
    p.add_argument("--apply", action="store_true", help="record the chosen candidate as a revision")
    p.add_argument("--pick", type=int, default=0, help="with --apply: which candidate (0-based)")
    _common(p)
    _engine_opts(p)

    p = sub.add_parser("train", help="train a model on the corpus (see engine/train.py)", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p = sub.add_parser("eval", help="bits per byte of a model on files")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    _engine_opts(p)
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("inspect", help="show the model's chunk boundaries and next-byte entropy on a text")
    p.add_argument("text", nargs="?", help="the text to inspect ('-': read standard input)")
    p.add_argument("--file", help="inspect this file's text instead")
    p.add_argument("--json", action="store_true")
    _engine_opts(p)
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("bench", help="training and decoding speed, H-Net vs an isotropic Mamba-2 baseline")
    p.add_argument("--json", action="store_true")
    p.add_argument("--size", default="small", help="model size preset for the benchmark (tiny, small, 30m)")
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "mamba_ssm"])
    p.add_argument("--device", default=None)
    p.add_argument("--cuda-graph", action="store_true", default=None)
    p.add_argument("--model", help="instead: the writing speed of this model directory (e.g. assets/model): "
                   "prefill bytes/s and decode bytes/s for 1 and 3 candidates, as the editor uses it")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("check-roundtrip", help="import/export every corpus document and report exactness")
    p.add_argument("paths", nargs="*", help="corpus .jsonl.xz files or Markdown files (default: the corpus)")
    return parser


def build_tui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scriba", description="Open FILE (default: the demo document) in the "
                                "scriba editor. Other commands: " + ", ".join(COMMANDS) + " (scriba COMMAND -h).")
    p.add_argument("file", nargs="?", help="Markdown file to open (created if missing)")
    _common(p)
    _engine_opts(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "train":  # every option goes to engine.train (REMAINDER would refuse "--out ...")
            from engine.train import main as train_main

            return train_main(argv[1:])
        if argv and argv[0] in COMMANDS:
            return _dispatch(build_parser().parse_args(argv))
        if argv and argv[0] in ("help",):
            build_parser().print_help()
            return 0
        args = build_tui_parser().parse_args(argv)
        _logging(args)
        from app.tui import run_app

        return run_app(args.file, db_path=args.db, model_dir=args.model, backend=args.backend, device=args.device)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)


def _logging(args) -> None:
    level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _dispatch(args) -> int:
    _logging(args)
    cmd = args.command
    if cmd in ("import", "export", "history", "tree"):
        from app.store import commands

        if cmd == "import":
            return commands.cmd_import(args.db, args.file)
        if cmd == "export":
            return commands.cmd_export(args.db, args.doc, args.output, args.at)
        if cmd == "history":
            return commands.cmd_history(args.db, args.doc, args.node, args.json)
        return commands.cmd_tree(args.db, args.doc)
    if cmd == "check-roundtrip":
        from engine.document import check_roundtrip_command

        return check_roundtrip_command(args.paths)
    if cmd == "generate":
        from app.actions import cmd_generate

        return cmd_generate(args)
    if cmd == "train":
        from engine.train import main as train_main

        return train_main(args.args)
    if cmd == "eval":
        from engine.evaluate import cmd_eval

        return cmd_eval(args)
    if cmd == "inspect":
        from engine.evaluate import cmd_inspect

        return cmd_inspect(args)
    if cmd == "bench":
        from engine.bench import cmd_bench

        return cmd_bench(args)
    raise AssertionError(cmd)


if __name__ == "__main__":
    sys.exit(main())
