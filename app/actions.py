"""Writing actions on a Document: node + action -> engine.tasks.Task (the prompt), candidate -> new Document.

    make_task(doc, node_id, action, instruction=None) -> Task
    apply_candidate(doc, node_id, action, text) -> Document        (with_changes=True: (Document, changed ids))
    history_pairs(db) -> list[engine.data.HistoryPair]              (training pairs for `scriba train --from-history`)
    write_history_jsonl(db, out) -> int                             (the same pairs as JSON lines)
    cmd_generate(args) -> int                                       (`scriba generate`)

The span of each action (DESIGN.md, "Writing actions as bytes"):
  rewrite    a sentence or a paragraph (a heading is rewritten as summarise)
  summarise  the heading line of the section the node is in (the node itself when it is a heading)
  expand     the body of that section
  continue   new text right after the node: after a sentence it goes on in the same paragraph; after a
             paragraph, heading or block it is a new paragraph
  outline    heading lines only, from a premise (the instruction) and the headings there are already
The old text goes into the prompt only with an instruction (a rewrite "as asked"); without one, the
span is simply filled in again from its context, exactly as in training.
No torch here: the engine is imported by cmd_generate only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.sync import atomic_write
from engine.actions import ActionRefused, aligned as _aligned, apply_candidate, changed_nodes, make_task  # noqa: F401
from engine.tasks import Action



# ---------------------------------------------------------------------------------------- history -> training pairs
_LEVEL_ACTION = {"sentence": "rewrite", "paragraph": "rewrite", "heading": "summarise", "section": "expand"}
_KIND_OF_LEVEL = {"sentence": "sentence", "paragraph": "paragraph", "heading": "heading", "section": "heading"}


def history_pairs(db: str | Path, authors: tuple[str, ...] = ("writer", "model")) -> list:
    """Training pairs from a scriba store: every accepted change by the writer or the model (an edit, rewrite,
    summarise or expand) as (document before, the span aligned to the node it changed, the new text).
    Read-only; returns engine.data.HistoryPair objects."""
    from app.store.repository import Store
    from engine.protocol import HistoryPair

    pairs: list[HistoryPair] = []
    with Store(Path(db).expanduser()) as store:
        for info in store.documents():
            revs = store.history(info.id)
            changes: dict[int, list] = {}
            for r in revs:
                changes.setdefault(r.change_id, []).append(r)
            ids = sorted(r.id for r in revs)
            for change_id, group in changes.items():
                first = group[0]
                if first.author not in authors or first.operation not in ("edit", "rewrite", "summarise", "expand"):
                    continue
                start_id = min(r.id for r in group)
                prev = [i for i in ids if i < start_id]
                if not prev:
                    continue
                before = store.at(info.id, prev[-1])
                after = store.at(info.id, max(r.id for r in group))
                pair = _pair(info.id, before, after, first)
                if pair is not None:
                    pairs.append(pair)
    return pairs


def write_history_jsonl(db: str | Path, out: str | Path) -> int:
    """Write history_pairs(db) as JSON lines (for `scriba train --from-history FILE.jsonl` on a machine
    without the store's packages). Returns the number of pairs."""
    from dataclasses import asdict

    pairs = history_pairs(db)
    with open(out, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
    return len(pairs)


def _pair(doc_id, before, after, rev):
    from engine.protocol import HistoryPair

    b, a = before.to_markdown(), after.to_markdown()
    if a == b:
        return None
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    q = 0
    while q < min(len(a), len(b)) - p and a[-1 - q] == b[-1 - q]:
        q += 1
    lo, hi = p, len(b) - q  # the changed region of `before`
    levels = [rev.level] if rev.level in _LEVEL_ACTION else ["sentence", "paragraph", "heading", "section"]
    best = None
    for level in levels:
        for n in before.walk():
            if str(n.kind) != _KIND_OF_LEVEL[level] or (level == "section" and str(n.kind) != "heading"):
                continue
            try:
                s, e = _aligned(before, b, n.id, "body" if level == "section" else "node")
            except (KeyError, ValueError):
                continue
            if s <= lo and hi <= e and s < e and (best is None or e - s < best[1] - best[0]):
                best = (s, e, level, getattr(n, "level", 0))
        if best is not None:
            break
    if best is None:
        return None
    s, e, level, hl = best
    middle = a[s:len(a) - (len(b) - e)]
    if not middle.strip() or middle != middle.strip():
        return None
    return HistoryPair(doc_id, b, s, e, middle, _LEVEL_ACTION[level], level,
                       heading_level=hl if level in ("heading", "section") else 0,
                       instruction=rev.instruction or None, author=rev.author)


# ---------------------------------------------------------------------------------------- scriba generate
def resolve_node(doc, key: str | None) -> str | None:
    """A node id from an id, a unique id prefix, or an index (0-based) in `scriba tree` order."""
    if key is None:
        return None
    records = [r for r in doc.records() if r.parent_id is not None]
    ids = [r.id for r in records]
    if key in ids:
        return key
    if key.lstrip("-").isdigit():
        i = int(key)
        if not 0 <= i < len(ids):
            raise ActionRefused(f"node index {i} is out of range (0-{len(ids) - 1}; see `scriba tree`)")
        return ids[i]
    hits = [i for i in ids if i.startswith(key)]
    if len(hits) == 1:
        return hits[0]
    raise ActionRefused(f"node {key!r} is {'ambiguous' if hits else 'not in this document'} (see `scriba tree`)")


def _fail(msg: str, code: int = 1) -> int:
    print(f"scriba generate: {msg}", file=sys.stderr)
    return code


def cmd_generate(args) -> int:
    """`scriba generate FILE --action A [--node N] [--n K] [--seed S] [--json] [--apply [--pick I]] ...`:
    candidates for one node, as the TUI would offer them; --apply records the chosen one as a revision
    (author "model") and writes the file."""
    from engine.document import Document, InputRefused

    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731
    path = Path(args.file).expanduser()
    try:
        data = path.read_bytes()
        doc = Document.from_bytes(data)
        text = data.decode("utf-8")
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    except InputRefused as exc:
        return _fail(f"{args.file}: {exc}")
    action = Action(args.action)

    store = doc_id = rev = None
    db = get("db")
    try:
        from app.store.db import default_db_path
        from app.store.errors import StoreError
        from app.store.repository import Store

        db_path = Path(db).expanduser() if db else default_db_path()
        if get("apply") or db_path.exists():
            store = Store(db_path)
            try:
                info = store.find_document(str(path.resolve()))
            except StoreError:
                info = None
            if get("apply"):
                info = store.import_document(text, path=str(path))  # records an external edit if the file changed
            if info is not None:
                doc_id = info.id
                doc, rev = store.current(doc_id)
                if doc.to_markdown() != text:  # the file changed since: its text, the store's ids where they match
                    doc.merge_markdown(text)
    except Exception as exc:  # noqa: BLE001 - a store problem is a one-line refusal
        if store is not None:
            store.close()
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    try:
        try:
            node_id = resolve_node(doc, get("node"))
            if node_id is None and action not in (Action.OUTLINE, Action.CONTINUE):
                return _fail(f"--node is needed for {action.value}", 2)
            task = make_task(doc, node_id, action, get("instruction"))
        except (ActionRefused, KeyError) as exc:
            return _fail(str(exc))
        from engine.api import EngineUnavailable, GenerationRequest, load_engine
        from engine.tasks import build_prompt, finish

        prompt = build_prompt(task)
        try:
            engine = load_engine(get("model"), backend=get("backend", "auto") or "auto", device=get("device"))
        except EngineUnavailable as exc:
            return _fail(str(exc))
        n = max(1, int(get("n", 3) or 3))
        params = {"n": n, "temperature": get("temperature", 0.8), "top_p": get("top_p", 0.95), "seed": get("seed"),
                  "max_bytes": get("max_bytes") or prompt.max_bytes}
        req = GenerationRequest(prompt.data, stop=prompt.stop, stop_after=prompt.stop_after, max_bytes=params["max_bytes"], n=n,
                                temperature=params["temperature"], top_p=params["top_p"], seed=params["seed"])
        cands = engine.generate(req)
        texts = [finish(task, c.text) for c in cands]

        applied = None
        if get("apply"):
            pick = int(get("pick", 0) or 0)
            if not 0 <= pick < len(texts):
                return _fail(f"--pick {pick}: there are {len(texts)} candidates (0-{len(texts) - 1})", 2)
            if not texts[pick].strip():
                return _fail(f"candidate {pick} is empty; nothing applied")
            try:
                new_doc, changed = apply_candidate(doc, node_id, action, texts[pick], with_changes=True)
            except (ActionRefused, InputRefused) as exc:
                return _fail(str(exc))
            revisions = store.commit(doc_id, new_doc, author="model", operation=action.value, level=task.level,
                                     instruction=get("instruction"), model=engine.info().model, params=params,
                                     candidates=texts, chosen=pick, base_revision=rev)
            atomic_write(path, store.current(doc_id)[0].to_markdown())
            applied = {"pick": pick, "revisions": [r.id for r in revisions], "changed_nodes": changed}

        if get("json"):
            json.dump({"document": doc_id, "node": node_id, "action": action.value, "level": task.level,
                       "prompt_bytes": len(prompt.data),
                       "candidates": [{"text": t, "raw": c.text, "finish": c.finish, "nbytes": c.nbytes,
                                       "logprob": c.logprob} for t, c in zip(texts, cands)],
                       "applied": applied}, sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
        else:
            for i, (t, c) in enumerate(zip(texts, cands)):
                print(f"--- candidate {i} ({c.finish}, {c.nbytes} bytes)")
                print(t if t else "(empty)")
            if applied:
                print(f"applied candidate {applied['pick']}: revisions {applied['revisions']}")
        return 0
    finally:
        if store is not None:
            store.close()
