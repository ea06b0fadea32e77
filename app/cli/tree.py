"""`scriba tree DOC`: the document tree, one node a line, with the node ids (`--node` takes a prefix)."""

from __future__ import annotations

import argparse

from app.cli.options import add_store_options, one_line, pipe_safe, refuse
from app.store.errors import StoreError
from app.store.queries import current_document, open_store_to_read
from app.store.repository import DocInfo
from engine.document import Document

NAME = "tree"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="show the document tree with node ids")
    p.add_argument("doc")
    add_store_options(p)
    return p


def format_tree(info: DocInfo, doc: Document, revision: int) -> str:
    """A title line, then every node indented by its depth: id prefix, kind and a short text."""
    lines = [f"{info.title or info.id}  (document {info.id}, revision {revision})"]
    depth: dict[str, int] = {}
    for node in doc.walk():
        parent = node.parent
        if parent is None:
            depth[node.id] = -1
            continue
        depth[node.id] = depth.get(parent.id, -1) + 1
        kind = str(node.kind)
        if kind == "heading":
            label = f"heading {node.level}: {one_line(node.text)}"
        elif kind == "paragraph" and node.children:
            label = f"paragraph ({len(node.children)} sentence{'s' if len(node.children) != 1 else ''})"
        else:
            label = f"{kind}: {one_line(node.text)}"
        lines.append(f"{node.id[:8]}  {'  ' * depth[node.id]}{label}")
    return "\n".join(lines)


@pipe_safe
def run(args) -> int:
    try:
        with open_store_to_read(args.db) as store:
            info, doc, revision = current_document(store, args.doc)
    except StoreError as exc:
        return refuse(exc)
    print(format_tree(info, doc, revision))
    return 0
