"""`python -m app.tui [FILE] [--db DB] [--model DIR] [--backend B] [--device D]`: the editor alone."""

from __future__ import annotations

import argparse
import sys

from app.tui import run_app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.tui", description="Open FILE in the scriba editor.")
    p.add_argument("file", nargs="?")
    p.add_argument("--db")
    p.add_argument("--model")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "mamba_ssm"])
    p.add_argument("--device")
    p.add_argument("--no-autosave", action="store_true", help="do not save the file on quit")
    args = p.parse_args(argv)
    return run_app(args.file, db_path=args.db, model_dir=args.model, backend=args.backend, device=args.device,
                   autosave=not args.no_autosave)


if __name__ == "__main__":
    sys.exit(main())
