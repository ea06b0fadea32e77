"""Document-level undo and redo, through the revision store (UI-free).

Nothing is ever taken out of the history: an undo restores the whole document to the state before the
last change, recorded as a new "restore" revision whose params say which change it undoes
({"undo": change id}); a redo restores the state before that undo ({"redo": change id}), so an undo can
always be undone. What can be undone or redone now is read back from the store's changes alone
(`UndoState.of`), so it survives a restart and counts the changes of other windows on the document:

    a change (an edit, an accepted candidate, a restore from the history, an external edit…)
        goes on the undo stack, and clears the redo stack
    an undo of the change on top of the undo stack moves it to the redo stack
    a redo of the change on top of the redo stack moves it back
An undo or redo that does not match the top of its stack (another window undid meanwhile) counts as a
change. The document's import is where undo stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.store.errors import StoreError
from app.store_worker import CommitResult

# how the writer hears of a change ("undid your edit")
_NAMES = {"edit": "your edit", "insert": "a new node", "delete": "a deletion", "move": "a move",
          "restore": "a restore", "import": "the import"}


class NothingToUndo(StoreError):
    """There is no change to undo (or to redo)."""


@dataclass(frozen=True)
class Step:
    """A change that can be undone (or redone): restoring `target` does it."""

    change_id: int  # the change undone or redone (the original one, through any undo / redo of it)
    label: str  # what the writer hears: "your edit", "expand (model)"
    target: int  # the revision whose document an undo (redo) restores


def label(author: str, operation: str) -> str:
    if operation in _NAMES and author in ("writer", "import"):
        return _NAMES[operation]
    if author == "external":
        return "the edit made outside scriba"
    return f"{operation} ({author})"


@dataclass
class UndoState:
    undo: list[Step] = field(default_factory=list)  # the last is undone next
    redo: list[Step] = field(default_factory=list)  # the last is redone next

    @classmethod
    def of(cls, changes) -> UndoState:
        """The stacks after `changes` (app.store.repository.ChangeInfo, oldest first)."""
        state = cls()
        before: int | None = None  # the last revision of the change before this one
        for c in changes:
            undoes, redoes = c.params.get("undo"), c.params.get("redo")
            if c.operation == "restore" and undoes is not None and state.undo \
                    and state.undo[-1].change_id == undoes and before is not None:
                step = state.undo.pop()
                state.redo.append(Step(step.change_id, step.label, before))
            elif c.operation == "restore" and redoes is not None and state.redo \
                    and state.redo[-1].change_id == redoes and before is not None:
                step = state.redo.pop()
                state.undo.append(Step(step.change_id, step.label, before))
            elif before is None or c.operation == "import" and not state.undo:
                pass  # the document's beginning: nothing before it to go back to
            else:
                state.undo.append(Step(c.id, label(c.author, c.operation), before))
                state.redo.clear()
            before = c.last
        return state


def state(store, doc_id: str) -> UndoState:
    return UndoState.of(store.changes(doc_id))


def plan(store, doc_id: str, redo: bool = False) -> tuple[Step, dict]:
    """The step an undo (redo) takes now, and the params its restore records. NothingToUndo if none."""
    stacks = state(store, doc_id)
    stack = stacks.redo if redo else stacks.undo
    if not stack:
        raise NothingToUndo("nothing to redo" if redo else "nothing to undo")
    step = stack[-1]
    return step, {"redo" if redo else "undo": step.change_id}


def step(store, doc_id: str, redo: bool = False) -> tuple[Step, list]:
    """Undo (redo) now: (the step, the revisions written). NothingToUndo if there is nothing to do."""
    what, params = plan(store, doc_id, redo)
    revisions = store.restore(doc_id, what.target, params=params)
    if not revisions:
        raise NothingToUndo(f"the document is already as it was {'after' if redo else 'before'} {what.label}")
    return what, revisions


def in_chain(chain, request, redo: bool = False):
    """The undo (redo) as a job of the store worker (app.store_worker.CommitChain), in line with the commits
    queued before it: the step is read from the store once they are in. Returns the CommitResult (error
    NothingToUndo when there is nothing to do); a locked database raises (the worker retries)."""
    try:
        what, params = plan(chain.store, chain.doc_id, redo)
    except NothingToUndo as exc:
        return CommitResult(request, revision=chain.revision, error=exc)
    request.meta, request.what = {"params": params}, what.label
    result = chain.restore(what.target, None, request)
    if result.error is None and not result.revisions:
        result.error = NothingToUndo(f"the document is already as it was {'after' if redo else 'before'} "
                                     f"{what.label}")
    return result
