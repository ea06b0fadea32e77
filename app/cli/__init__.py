"""`scriba` command line: `scriba [FILE]` opens the editor, `scriba COMMAND …` runs one command.

Each command is a module of this package (COMMANDS) with `NAME`, `add_parser(sub)` and `run(args)`. A
command's module is imported only when that command runs (all of them only for `scriba help`), and none
imports torch before it loads a model: `import app.cli`, `scriba --help` and the document commands stay
fast.

Exit codes: 0 success, 1 refused input (one-line message), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from app.cli.options import add_engine_options, add_store_options

# command -> its module in this package, in the order `scriba help` lists them
COMMANDS: dict[str, str] = {
    "import": "import_", "export": "export", "history": "history", "tree": "tree", "generate": "generate",
    "train": "train", "eval": "eval", "inspect": "inspect", "bench": "bench", "check-roundtrip": "check_roundtrip",
    "quantize": "quantize", "serve": "serve",
}
EDITOR_SUFFIXES = (".md", ".markdown", ".txt")  # a bare word with one of these is a file to create
DESCRIPTION = "Write long Markdown documents with a byte-level hierarchical model, at every level of the outline."


def command_module(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMANDS[command]}")


def _command_parser(commands) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scriba", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        command_module(command).add_parser(sub)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (imports every command module; none imports torch)."""
    return _command_parser(COMMANDS)


def build_tui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scriba", description="Open FILE (default: the demo document) in the "
                                "scriba editor. Other commands: " + ", ".join(COMMANDS) + " (scriba COMMAND -h).")
    p.add_argument("file", nargs="?", help="Markdown file to open (created if missing)")
    add_store_options(p)
    add_engine_options(p)
    p.add_argument("--engine", default=os.environ.get("SCRIBA_ENGINE") or None, metavar="URL",
                   help="use the engine served at URL (scriba serve) instead of loading a model ($SCRIBA_ENGINE)")
    return p


def is_unknown_command(word: str) -> bool:
    """A bare word that names no command, no existing file and no file to create (`scriba frobnicate`):
    a typo, not a new document called "frobnicate"."""
    has_dir = os.sep in word or (os.altsep is not None and os.altsep in word)
    return not (has_dir or Path(word).suffix.lower() in EDITOR_SUFFIXES or Path(word).expanduser().exists())


def _logging(args) -> None:
    level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _run_command(argv: list[str]) -> int:
    module = command_module(argv[0])
    args = _command_parser([argv[0]]).parse_args(argv)
    _logging(args)
    return module.run(args)


def _run_editor(argv: list[str]) -> int:
    parser = build_tui_parser()
    args = parser.parse_args(argv)
    if args.file is not None and is_unknown_command(args.file):
        parser.error(f"unknown command {args.file!r} (see scriba help); a new document needs a name ending "
                     f"in {', '.join(EDITOR_SUFFIXES)}")
    _logging(args)
    from app.tui import run_app  # Textual, and the engine behind it, only for the editor

    return run_app(args.file, db_path=args.db, model_dir=args.model, backend=args.backend, device=args.device,
                   engine_url=args.engine)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            return _run_command(argv)
        if argv and argv[0] == "help":
            build_parser().print_help()
            return 0
        return _run_editor(argv)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
