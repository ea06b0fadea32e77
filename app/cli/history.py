"""`scriba history DOC [--node N] [--json]`: the revisions of a document or of one node."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.options import add_store_options, one_line, pipe_safe, refuse
from app.store.errors import StoreError
from app.store.queries import document_history, open_store_to_read
from app.store.repository import RevisionInfo

NAME = "history"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="list the revisions of a document or of one node")
    p.add_argument("doc")
    p.add_argument("--node", help="node id (or unique prefix)")
    p.add_argument("--json", action="store_true")
    add_store_options(p)
    return p


def format_history(revisions: list[RevisionInfo]) -> str:
    """One line per revision under a header: who, what, when."""
    lines = [f"{'REV':>6} {'CHANGE':>6}  {'WHEN (UTC)':19}  {'AUTHOR':8} {'OPERATION':9} {'EFFECT':6} {'NODE':8}  TEXT"]
    for r in revisions:
        when = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        text = "(deleted)" if r.deleted else (one_line(r.text) or f"({r.kind})")
        lines.append(f"{r.id:>6} {r.change_id:>6}  {when}  {r.author:8} {r.operation:9} {r.effect:6} "
                     f"{r.node_id[:8]:8}  {text}")
    return "\n".join(lines)


@pipe_safe
def run(args) -> int:
    try:
        with open_store_to_read(args.db) as store:
            revisions = document_history(store, args.doc, args.node)
    except StoreError as exc:
        return refuse(exc)
    if args.json:
        json.dump([r.to_json() for r in revisions], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_history(revisions))
    return 0
