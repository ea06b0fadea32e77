"""`scriba export DOC [-o OUT] [--at REV]`: a document as Markdown, as it is now or at a revision."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.options import add_store_options, pipe_safe, refuse
from app.store.errors import StoreError
from app.store.queries import document_markdown, open_store_to_read
from app.sync import atomic_write

NAME = "export"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="print a document (as it is now, or at a revision)")
    p.add_argument("doc", help="file path or document id")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.add_argument("--at", type=int, help="revision id: the whole document as it was then")
    add_store_options(p)
    return p


@pipe_safe
def run(args) -> int:
    if args.at is not None and args.at < 1:
        return refuse("--at takes a revision id (a positive number; see `scriba history`)", code=2)
    try:
        with open_store_to_read(args.db) as store:
            text = document_markdown(store, args.doc, args.at)
    except StoreError as exc:
        return refuse(exc)
    if args.output:
        try:
            atomic_write(Path(args.output).expanduser(), text)
        except OSError as exc:
            return refuse(f"cannot write {args.output}: {exc.strerror or exc}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
