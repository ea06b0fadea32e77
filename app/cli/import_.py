"""`scriba import FILE`: import a Markdown file into the revision store."""

from __future__ import annotations

import argparse

from app.cli.options import add_store_options, pipe_safe, refuse
from app.store.errors import StoreError
from app.store.queries import import_markdown, open_store, read_markdown
from engine.document import InputRefused

NAME = "import"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="import a Markdown file into the revision store")
    p.add_argument("file")
    add_store_options(p)
    return p


@pipe_safe
def run(args) -> int:
    try:
        text = read_markdown(args.file)  # before opening the store: a typo creates no database
        with open_store(args.db) as store:
            imported = import_markdown(store, text, args.file)
    except (StoreError, InputRefused) as exc:
        return refuse(exc)
    info = imported.info
    if imported.outcome == "new":
        print(f"imported {args.file} as document {info.id} (revision {info.revision})")
    elif imported.outcome == "unchanged":
        print(f"{args.file} is unchanged: document {info.id} (revision {info.revision})")
    else:
        print(f"recorded the changes to {args.file} as an external revision of document {info.id} "
              f"(revision {info.revision})")
    return 0
