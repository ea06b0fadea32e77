"""`scriba generate FILE --action A [--node N] [--n K] [--seed S] [--json] [--apply [--pick I]] …`:
candidates for one node, exactly as the editor would offer them (app.writing); --apply records the
chosen one as a revision (author "model") against the revision it was proposed on, and writes the file.

The file and the store move together (--apply): an edit made to the file since scriba last wrote it is
merged first, three-way, as an `external` revision (app.file_state.reconcile); the model's revision is
committed; then the file is written only if it still holds what was read (else the new edit is merged
first, again). Killed between the commit and the write, the file still has the hash the store last
noted, so the next run sees "the store is newer" and writes the file from it: an accepted revision is
never taken back as an external edit.

A conflict (the node changed meanwhile), a locked database or a failed write is a one-line refusal
(exit 1) after the candidates are printed, so they are not lost.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app import file_state, writing
from app.cli.options import add_engine_options, add_store_options, refuse
from app.store.db import default_db_path
from app.store.errors import StoreError
from app.store.repository import Store
from app.sync import atomic_write, content_hash
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
    doc = Document.from_bytes(data)
    return doc, doc.to_markdown()


def _open_document(args, path: Path, doc: Document, text: str):
    """(store, doc_id, document, its revision, the file's content as a tree with the store's ids): the
    store's version of the file when it has one, with an edit made to the file since merged in (with
    --apply recorded as an external revision; a new file is imported)."""
    db_path = Path(args.db).expanduser() if args.db else default_db_path()
    if not (args.apply or db_path.exists()):
        return None, None, doc, None, doc
    store = Store(db_path)
    try:
        resolved = str(path.resolve())
        try:
            info = store.find_document(resolved)
        except StoreError:
            info = None
        if info is None or info.path != resolved:
            if not args.apply:
                return store, None, doc, None, doc
            info, doc, revision = store.import_current(text, path=resolved, doc=doc)
            store.set_file_hash(info.id, content_hash(text), revision)
            return store, info.id, doc, revision, file_state.copy(doc)
        done = file_state.reconcile(store, info.id, text, record=args.apply)
        return store, info.id, done.document, done.revision, done.disk
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


def _apply(args, path: Path, store, doc_id: str, proposal, texts: list[str], model: str,
           read: tuple[str, Document]) -> dict:
    """Record candidate --pick, then write the file (`read`: the hash of the file as read, and its
    content as a tree). Raises ActionRefused / InputRefused / StoreError (ConflictError included) /
    OSError with a one-line message."""
    if not texts[args.pick].strip():
        raise ActionRefused(f"candidate {args.pick} is empty; nothing applied")
    accepted = writing.accept(proposal, texts, args.pick, store, doc_id, model=model)
    merged = _write_back(path, store, doc_id, *read)
    return {"pick": args.pick, "revisions": [r.id for r in accepted.revisions] + [r.id for r in merged],
            "changed_nodes": accepted.changed}


def _write_back(path: Path, store, doc_id: str, digest: str, disk: Document) -> list:
    """Write the store's document to the file if the file still has content hash `digest` (as read);
    if another editor changed it meanwhile, merge that first (three-way against `disk`, the content
    read) and look again. Returns the revisions that merging wrote."""
    merged: list = []
    for _ in range(5):
        current, revision = store.current(doc_id)
        try:
            text = _read(path)[1]
        except FileNotFoundError:
            text = None
        if text is None or content_hash(text) == digest:
            store.set_file_hash(doc_id, atomic_write(path, current.to_markdown()), revision)
            return merged
        merge = file_state.ExternalMerge(disk, current, text)
        merged += file_state.record_in_store(store, doc_id, merge, revision)[0]
        digest, disk = content_hash(text), merge.theirs
    raise StoreError(f"{path.name} kept changing while it was written; the revision is in the store")


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
        store, doc_id, doc, revision, disk = _open_document(args, path, doc, text)
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
                applied = _apply(args, path, store, doc_id, proposal, texts, engine.info().model,
                                 (content_hash(text), disk))
            except (ActionRefused, InputRefused, StoreError) as exc:
                failure = str(exc)
            except OSError as exc:
                failure = f"cannot write {args.file}: {exc.strerror or exc} (the revision is in the store)"
        _print(args, proposal, doc_id, candidates, texts, applied)
        return _fail(failure) if failure else 0
    finally:
        if store is not None:
            store.close()
