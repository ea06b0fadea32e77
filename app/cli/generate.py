"""`scriba generate FILE --action A [--node N] [--n K] [--seed S] [--json] [--apply [--pick I]] …`:
candidates for one node, exactly as the editor would offer them (app.writing); --apply records the
chosen one as a revision (author "model") against the revision it was proposed on, and writes the file.

A conflict (the node changed meanwhile), a locked database or a failed write is a one-line refusal
(exit 1) after the candidates are printed, so they are not lost.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app import writing
from app.cli.options import add_engine_options, add_store_options, refuse
from app.store.db import default_db_path
from app.store.errors import StoreError
from app.store.repository import Store
from app.sync import atomic_write
from engine.actions import ACTIONS, ActionRefused
from engine.document import Document, InputRefused
from engine.protocol import EngineUnavailable

NAME = "generate"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="ask the model for candidates for one node (as the TUI does)")
    p.add_argument("file")
    p.add_argument("--action", required=True, choices=list(ACTIONS))
    p.add_argument("--node", help="node id, id prefix, or index in `scriba tree` order")
    p.add_argument("--n", type=int, default=3, help="number of candidates")
    p.add_argument("--seed", type=int)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-bytes", type=int, help="at most this many bytes (never more than the level's cap)")
    p.add_argument("--instruction", help="for rewrite: what to change; for outline: the premise")
    p.add_argument("--json", action="store_true")
    p.add_argument("--apply", action="store_true", help="record the chosen candidate as a revision")
    p.add_argument("--pick", type=int, default=0, help="with --apply: which candidate (0-based)")
    add_store_options(p)
    add_engine_options(p)
    return p


def sampling(args) -> writing.Sampling:
    """The sampling the options ask for (the editor builds the same from its settings)."""
    return writing.Sampling(n=args.n or 3, temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                            max_bytes=args.max_bytes)


def _fail(message: str, code: int = 1) -> int:
    return refuse(message, NAME, code)


def _read(path: Path) -> tuple[Document, str]:
    data = path.read_bytes()
    return Document.from_bytes(data), data.decode("utf-8")


def _open_document(args, path: Path, doc: Document, text: str):
    """(store, doc_id, document, its revision): the store's version of the file when it has one (with
    --apply the file is imported first, an edit made to it since recorded as an external revision)."""
    db_path = Path(args.db).expanduser() if args.db else default_db_path()
    if not (args.apply or db_path.exists()):
        return None, None, doc, None
    store = Store(db_path)
    try:
        try:
            info = store.find_document(str(path.resolve()))
        except StoreError:
            info = None
        if args.apply:
            info = store.import_document(text, path=str(path))
        if info is None:
            return store, None, doc, None
        doc, revision = store.current(info.id)
        if doc.to_markdown() != text:  # the file changed since: its text, the store's ids where they match
            doc.merge_markdown(text)
        return store, info.id, doc, revision
    except BaseException:
        store.close()
        raise


def _print(args, proposal, doc_id, candidates, texts, applied) -> None:
    if args.json:
        json.dump({"document": doc_id, "node": proposal.node_id, "action": args.action,
                   "level": proposal.task.level, "prompt_bytes": len(proposal.request.prompt),
                   "candidates": [{"text": t, "raw": c.text, "finish": c.finish, "nbytes": c.nbytes,
                                   "logprob": c.logprob} for t, c in zip(texts, candidates)],
                   "applied": applied}, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    for i, (t, c) in enumerate(zip(texts, candidates)):
        print(f"--- candidate {i} ({c.finish}, {c.nbytes} bytes)")
        print(t if t else "(empty)")
    if applied:
        print(f"applied candidate {applied['pick']}: revisions {applied['revisions']}")


def _apply(args, path: Path, store, doc_id: str, proposal, texts: list[str], model: str) -> dict:
    """Record candidate --pick and write the file. Raises ActionRefused / InputRefused / StoreError
    (ConflictError included) / OSError with a one-line message."""
    if not texts[args.pick].strip():
        raise ActionRefused(f"candidate {args.pick} is empty; nothing applied")
    accepted = writing.accept(proposal, texts, args.pick, store, doc_id, model=model)
    digest = atomic_write(path, accepted.document.to_markdown())
    store.set_file_hash(doc_id, digest)
    return {"pick": args.pick, "revisions": [r.id for r in accepted.revisions], "changed_nodes": accepted.changed}


def run(args) -> int:
    path = Path(args.file).expanduser()
    try:
        doc, text = _read(path)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    except InputRefused as exc:
        return _fail(f"{args.file}: {exc}")
    entry = ACTIONS[args.action]
    try:
        store, doc_id, doc, revision = _open_document(args, path, doc, text)
    except Exception as exc:  # noqa: BLE001 - a store problem is a one-line refusal
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    try:
        try:
            node_id = writing.resolve_node(doc, args.node)
            if node_id is None and entry.needs_node:
                return _fail(f"--node is needed for {entry.name}", 2)
            if entry.instruction == "required" and entry.node_kinds and not args.instruction:
                return _fail(f"--instruction is needed for {entry.name}", 2)
            proposal = writing.propose(doc, node_id, entry.name, args.instruction, sampling(args), revision)
        except (ActionRefused, KeyError) as exc:
            return _fail(str(exc))
        # the engine (torch) loads only now: reading the file and the store stay fast
        from engine.api import load_engine  # noqa: PLC0415

        try:
            engine = load_engine(args.model, backend=args.backend or "auto", device=args.device)
        except EngineUnavailable as exc:
            return _fail(str(exc))
        candidates = writing.generate(engine, proposal)
        texts = writing.finish_candidates(proposal, candidates)

        applied, failure = None, None
        if args.apply:
            if not 0 <= args.pick < len(texts):
                return _fail(f"--pick {args.pick}: there are {len(texts)} candidates (0-{len(texts) - 1})", 2)
            try:
                applied = _apply(args, path, store, doc_id, proposal, texts, engine.info().model)
            except (ActionRefused, InputRefused, StoreError) as exc:
                failure = str(exc)
            except OSError as exc:
                failure = f"cannot write {args.file}: {exc.strerror or exc} (the revision is in the store)"
        _print(args, proposal, doc_id, candidates, texts, applied)
        return _fail(failure) if failure else 0
    finally:
        if store is not None:
            store.close()
