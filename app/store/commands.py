"""The store's CLI commands (`scriba import | export | history | tree`), wired in app/cli.py.

Each returns an exit code: 0 ok, 1 refused input (one line on stderr, no traceback), 2 bad usage.
No torch here (nor anywhere in app.store).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from app.store.db import default_db_path
from app.sync import atomic_write
from app.store.errors import StoreError


def _pipe_safe(fn: Callable[..., int]) -> Callable[..., int]:
    """`scriba history … | head` must end quietly, not with a BrokenPipeError traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> int:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
            return 0

    return wrapper


def _fail(message: str, code: int = 1) -> int:
    print(f"scriba: {message}", file=sys.stderr)
    return code


def _open(db: str | Path | None):
    from app.store.repository import Store

    return Store(Path(db).expanduser() if db else default_db_path())


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


@_pipe_safe
def cmd_import(db: str | Path | None, file: str | Path) -> int:
    """Import FILE. Again with the same path: unchanged → the existing document; changed → an `external`
    revision of it."""
    from engine.document import Document, InputRefused

    path = Path(file).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        Document.from_bytes(data)  # refuses binary / invalid UTF-8 with a one-line message
        text = data.decode("utf-8")
    except InputRefused as exc:
        return _fail(f"{file}: {exc}")
    except UnicodeDecodeError:
        return _fail(f"{file}: not UTF-8 text")
    try:
        with _open(db) as store:
            try:
                before = store.find_document(str(path.resolve()))
            except StoreError:
                before = None
            info = store.import_document(text, path=str(path))
    except (StoreError, InputRefused) as exc:
        return _fail(str(exc))
    if before is None:
        print(f"imported {file} as document {info.id} (revision {info.revision})")
    elif before.revision == info.revision:
        print(f"{file} is unchanged: document {info.id} (revision {info.revision})")
    else:
        print(f"recorded the changes to {file} as an external revision of document {info.id} "
              f"(revision {info.revision})")
    return 0


@_pipe_safe
def cmd_export(db: str | Path | None, doc_key: str, out: str | Path | None = None, at: int | None = None) -> int:
    """Print the document (or write it to OUT atomically), as it is now or as it was at revision AT."""
    if at is not None and at < 1:
        return _fail("--at takes a revision id (a positive number; see `scriba history`)", 2)
    try:
        with _open(db) as store:
            info = store.find_document(doc_key)
            doc = store.at(info.id, at) if at is not None else store.current(info.id)[0]
        text = doc.to_markdown()
    except StoreError as exc:
        return _fail(str(exc))
    if out:
        try:
            atomic_write(Path(out).expanduser(), text)
        except OSError as exc:
            return _fail(f"cannot write {out}: {exc.strerror or exc}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


@_pipe_safe
def cmd_history(db: str | Path | None, doc_key: str, node: str | None = None, as_json: bool = False) -> int:
    """List the revisions of a document (or of one node): who, what, when."""
    try:
        with _open(db) as store:
            info = store.find_document(doc_key)
            revisions = store.history(info.id, node)
    except StoreError as exc:
        return _fail(str(exc))
    if as_json:
        json.dump([r.to_json() for r in revisions], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"{'REV':>6} {'CHANGE':>6}  {'WHEN (UTC)':19}  {'AUTHOR':8} {'OPERATION':9} {'EFFECT':6} {'NODE':8}  TEXT")
    for r in revisions:
        when = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        text = "(deleted)" if r.deleted else (_short(r.text) or f"({r.kind})")
        print(f"{r.id:>6} {r.change_id:>6}  {when}  {r.author:8} {r.operation:9} {r.effect:6} "
              f"{r.node_id[:8]:8}  {text}")
    return 0


@_pipe_safe
def cmd_tree(db: str | Path | None, doc_key: str) -> int:
    """Show the document tree, one node a line, indented, with the node ids (`--node` takes a prefix)."""
    try:
        with _open(db) as store:
            info = store.find_document(doc_key)
            doc, rev = store.current(info.id)
    except StoreError as exc:
        return _fail(str(exc))
    print(f"{info.title or info.id}  (document {info.id}, revision {rev})")
    depth: dict[str, int] = {}
    for node in doc.walk():
        parent = node.parent
        if parent is None:
            depth[node.id] = -1
            continue
        depth[node.id] = depth.get(parent.id, -1) + 1
        kind = str(node.kind)
        if kind == "heading":
            label = f"heading {node.level}: {_short(node.text)}"
        elif kind == "paragraph" and node.children:
            label = f"paragraph ({len(node.children)} sentence{'s' if len(node.children) != 1 else ''})"
        else:
            label = f"{kind}: {_short(node.text)}"
        print(f"{node.id[:8]}  {'  ' * depth[node.id]}{label}")
    return 0
