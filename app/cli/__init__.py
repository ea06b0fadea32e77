"""`scriba` command line: `scriba [FILE]` opens the editor, `scriba COMMAND …` runs one command.

Each command is a module of this package (COMMANDS) with `NAME`, `add_parser(sub)` and `run(args)`. A
command's module is imported only when that command runs (all of them only for `scriba help`), and none
imports torch before it loads a model: `import app.cli`, `scriba --help` and the document commands stay
fast.

Exit codes: 0 success, 1 refused input (one-line message), 2 bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from app.cli.options import add_engine_options, add_store_options, refuse

# command -> its module in this package, in the order `scriba help` lists them
COMMANDS: dict[str, str] = {
    "import": "import_", "export": "export", "history": "history", "tree": "tree", "generate": "generate",
    "train": "train", "eval": "eval", "inspect": "inspect", "bench": "bench", "check-roundtrip": "check_roundtrip",
    "quantize": "quantize", "serve": "serve",
    "samples": "samples", "results": "results",
}
EDITOR_SUFFIXES = (".md", ".markdown", ".txt")  # a bare word with one of these is a file to create
READ_ONLY = frozenset({"export", "history", "tree"})  # commands that never create a database
FILE_RULE = ("FILE is a file when it exists, ends in " + ", ".join(EDITOR_SUFFIXES) + " or contains a /; "
             "any other word must be a command")
DESCRIPTION = "Write long Markdown documents with a byte-level hierarchical model, at every level of the outline."


def command_module(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMANDS[command]}")


def _command_parser(commands) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scriba", description=DESCRIPTION,
                                     epilog="scriba [FILE] opens the editor; " + FILE_RULE + ".")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        command_module(command).add_parser(sub)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (imports every command module; none imports torch)."""
    return _command_parser(COMMANDS)


def build_tui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scriba", description="Open FILE (default: the demo document) in the "
                                "scriba editor. Other commands: " + ", ".join(COMMANDS) + " (scriba COMMAND -h). "
                                + FILE_RULE + ".")
    p.add_argument("file", nargs="?", help="Markdown file to open (a new one is created when it ends in "
                   + ", ".join(EDITOR_SUFFIXES) + " or contains a /)")
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


def unknown_command_message(word: str) -> str:
    """One line for `scriba frobnicate`: the nearest command, else where the commands are listed."""
    near = difflib.get_close_matches(word.lower(), [*COMMANDS, "help"], n=1, cutoff=0.6)
    if near:
        return f"unknown command {word!r} (did you mean {near[0]!r}?)"
    return (f"unknown command {word!r} (scriba help lists the commands; a new document needs a name like "
            f"{word}{EDITOR_SUFFIXES[0]})")


def prepare_database(args, command: str | None) -> int | None:
    """Before a command that writes opens the store --db (or $SCRIBA_DB) names in a folder that does not
    exist: the folder is created, with a message on stderr (starting a new store in a new folder is an
    ordinary request, but a typo in --db must be seen). The reading commands create nothing (their
    store refuses a missing database). Returns an exit status to stop with, or None."""
    db = getattr(args, "db", None) or os.environ.get("SCRIBA_DB")
    if not db or command in READ_ONLY:
        return None  # (the default user data folder is created quietly: scriba always keeps its store there)
    folder = Path(db).expanduser().parent
    if folder.exists():
        return None
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        return refuse(f"cannot create the database folder {folder}: {exc.strerror or exc}", command)
    print(f"scriba: created the folder {folder} for the new database {Path(db).name}", file=sys.stderr)
    return None


def _logging(args) -> None:
    level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _run_command(argv: list[str]) -> int:
    module = command_module(argv[0])
    args = _command_parser([argv[0]]).parse_args(argv)
    _logging(args)
    stop = prepare_database(args, argv[0])
    return stop if stop is not None else module.run(args)


def _run_editor(argv: list[str]) -> int:
    parser = build_tui_parser()
    args, extra = parser.parse_known_args(argv)
    if args.file is not None and is_unknown_command(args.file):  # before the rest: `scriba exprot a.md`
        return refuse(unknown_command_message(args.file), code=2)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _logging(args)
    stop = prepare_database(args, None)
    if stop is not None:
        return stop
    from app.tui import run_app  # Textual, and the engine behind it, only for the editor

    return run_app(args.file, db_path=args.db, model_dir=args.model, backend=args.backend, device=args.device,
                   engine_url=args.engine)


def command_first(argv: list[str]) -> list[str]:
    """`scriba --db X history FILE` as `scriba history --db X FILE`: options written before the command word
    go after it (the command's parser reads them); a word that is an option's value is not the command."""
    valued = {o for a in build_tui_parser()._actions if a.nargs != 0 for o in a.option_strings}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in valued else 1
    if 0 < i < len(argv) and argv[i] in COMMANDS:
        return [argv[i], *argv[:i], *argv[i + 1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = command_first(list(sys.argv[1:] if argv is None else argv))
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
