"""The writing service: one pipeline from a writing action to a recorded revision, for the TUI and
`scriba generate` alike. No UI here, no torch at import (it talks to an `engine.protocol.Engine`).

    proposal = propose(doc, node_id, "rewrite", instruction, Sampling(...), base_revision=rev)
    candidates = generate(engine, proposal, on_update, cancel)      # streaming, cancellable
    texts = finish_candidates(proposal, candidates)                  # what accepting one inserts
    accepted = accept(proposal, texts, index, store, doc_id, model=...)

A proposal keeps a copy of the document it was made on and that document's revision, so accepting a
candidate always commits against that base revision: the store merges it with newer changes to other
nodes (the writer kept typing while the model wrote, another window edited elsewhere) and raises
`app.store.errors.ConflictError` when the node itself changed since (never a silent overwrite).
The length cap is the same everywhere: `min(the level's cap from the prompt, the requested max_bytes, the
writer's cap for the level (settings))`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from engine import actions
from engine.actions import WritingAction, apply_candidate, make_task
from engine.document import Document
from engine.protocol import Candidate, Engine, GenerationRequest
from engine.tasks import Task, build_prompt, finish


def resolve_node(doc: Document, key: str | None) -> str | None:
    """A node id from an id, a unique id prefix, or an index (0-based) in `scriba tree` order."""
    if key is None:
        return None
    ids = [r.id for r in doc.records() if r.parent_id is not None]
    if key in ids:
        return key
    if key.lstrip("-").isdigit():
        i = int(key)
        if not 0 <= i < len(ids):
            raise actions.ActionRefused(f"node index {i} is out of range (0-{len(ids) - 1}; see `scriba tree`)")
        return ids[i]
    hits = [i for i in ids if i.startswith(key)]
    if len(hits) == 1:
        return hits[0]
    raise actions.ActionRefused(
        f"node {key!r} is {'ambiguous' if hits else 'not in this document'} (see `scriba tree`)")


@dataclass(frozen=True)
class Sampling:
    """How to sample; `max_bytes` is a request, capped by the level's own cap."""

    n: int = 3
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    max_bytes: int | None = None
    caps: dict[str, int] = field(default_factory=dict)  # level -> at most this many bytes (app.settings)


@dataclass
class Proposal:
    """A writing action on one node of one revision of a document, ready to run on an engine."""

    action: WritingAction
    node_id: str | None
    instruction: str | None
    task: Task
    request: GenerationRequest
    params: dict  # what the store records: n, temperature, top_p, seed, max_bytes (capped)
    document: Document  # a copy of the document as it was proposed on (accepting applies to it)
    base_revision: int | None  # the store revision of `document` (None: no store)
    add: bool = False  # the action's "add" variant (expand: add to the section, nothing replaced)

    @property
    def operation(self) -> str:
        """The store's operation (and the byte tag's action): a heading is rewritten as summarise."""
        return self.task.action.value


def propose(doc: Document, node_id: str | None, action: str, instruction: str | None = None,
            sampling: Sampling = Sampling(), base_revision: int | None = None, *, add: bool = False) -> Proposal:
    """The proposal for `action` (a name of engine.actions.ACTIONS) on `node_id` of `doc` (add=True: its
    "add" variant, engine.actions.WritingAction.add).
    Raises ActionRefused (or KeyError for a node not in `doc`) with a one-line reason."""
    entry = actions.get(action)
    instruction = (instruction or None) if entry.instruction != "never" else None
    if not entry.node_kinds:
        node_id = None  # a whole-document action (outline)
    task = make_task(doc, node_id, entry.name, instruction, add=add)
    prompt = build_prompt(task)
    max_bytes = min(prompt.max_bytes, sampling.max_bytes or prompt.max_bytes,
                    sampling.caps.get(prompt.level) or prompt.max_bytes)
    params = {"n": max(1, int(sampling.n)), "temperature": sampling.temperature, "top_p": sampling.top_p,
              "seed": sampling.seed, "max_bytes": max_bytes}
    request = GenerationRequest(prompt.data, stop=prompt.stop, stop_after=prompt.stop_after, **params)
    if add:
        params["mode"] = "add"  # recorded with the change: the candidate was added to the section
    return Proposal(entry, node_id, instruction, task, request, params, Document.from_records(doc.records()),
                    base_revision, add)


def generate(engine: Engine, proposal: Proposal, on_update: Callable[[list[Candidate]], None] | None = None,
             cancel: threading.Event | None = None) -> list[Candidate]:
    """Run the proposal on `engine` (blocking: call it from a worker thread to keep a UI live)."""
    return engine.generate(proposal.request, on_update=on_update, cancel=cancel)


def finish_candidates(proposal: Proposal, candidates: list[Candidate]) -> list[str]:
    """The candidates cut by the task's stop rules: the texts accepting one would insert."""
    return [finish(proposal.task, c.text) for c in candidates]


@dataclass
class Accepted:
    document: Document  # the store's current document after the commit (merged with newer changes)
    revision: int | None  # its revision
    revisions: list = field(default_factory=list)  # the revisions written
    changed: list[str] = field(default_factory=list)  # node ids the candidate changed
    focus: str | None = None  # the node to show afterwards


def apply(proposal: Proposal, texts: list[str], index: int, onto: Document | None = None
          ) -> tuple[Document, list[str]]:
    """The proposal's document (or `onto`) with candidate `index` applied, and the ids of the nodes it
    changed. ActionRefused (or InputRefused) when it cannot be applied."""
    if not 0 <= index < len(texts):
        raise actions.ActionRefused(f"there are {len(texts)} candidates, not {index + 1}")
    doc = proposal.document if onto is None else onto
    return apply_candidate(doc, proposal.node_id, proposal.action.name, texts[index], with_changes=True,
                           add=proposal.add)


def commit_meta(proposal: Proposal, texts: list[str], index: int, model: str | None) -> dict:
    """The revision metadata a store commit of candidate `index` carries."""
    return {"author": "model", "operation": proposal.operation, "level": proposal.task.level,
            "instruction": proposal.instruction, "model": model, "params": proposal.params,
            "candidates": texts, "chosen": index}


def accept(proposal: Proposal, texts: list[str], index: int, store, doc_id: str, *,
           model: str | None = None) -> Accepted:
    """Apply candidate `index` and commit it to `store` (an app.store.Store) against the proposal's
    base revision. Raises ConflictError when the node changed since, StoreError when the store cannot
    write (locked, read-only), ActionRefused when the candidate cannot be applied."""
    new_doc, changed = apply(proposal, texts, index)
    revisions = store.commit(doc_id, new_doc, base_revision=proposal.base_revision,
                             **commit_meta(proposal, texts, index, model))
    current, revision = store.current(doc_id)
    return Accepted(current, revision, revisions, changed, focus_after(proposal, current, changed))


def focus_after(proposal: Proposal, doc: Document, changed: list[str]) -> str | None:
    """The node to show after accepting: the one worked on if it is still there, else the first new one."""
    if proposal.node_id is not None and proposal.node_id in doc:
        return proposal.node_id
    return next((i for i in changed if i in doc), None)
