"""Helpers over inference states: nested dataclasses / lists of tensors whose first dim is the batch."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import Tensor


def tree_map(fn: Callable[[Tensor], Tensor], state: Any) -> Any:
    """Apply fn to every tensor in a state (e.g. clone, repeat for n candidates, move to a device)."""
    if isinstance(state, Tensor):
        return fn(state)
    if dataclasses.is_dataclass(state):
        return type(state)(**{f.name: tree_map(fn, getattr(state, f.name)) for f in dataclasses.fields(state)})
    if isinstance(state, (list, tuple)):
        return type(state)(tree_map(fn, s) for s in state)
    return state


def tree_select(keep: Tensor, new: Any, old: Any) -> Any:
    """Per stream i: new's tensors where keep[i] else old's (streams whose stage did not step keep theirs)."""
    if isinstance(new, Tensor):
        return torch.where(keep.view(-1, *([1] * (new.dim() - 1))), new, old)
    if dataclasses.is_dataclass(new):
        return type(new)(**{f.name: tree_select(keep, getattr(new, f.name), getattr(old, f.name))
                            for f in dataclasses.fields(new)})
    if isinstance(new, (list, tuple)):
        return type(new)(tree_select(keep, n, o) for n, o in zip(new, old))
    return new


def tree_cat(a: Any, b: Any) -> Any:
    """Two trees of per-row tensors stacked along the row dim (non-tensors such as LMState.position: a's)."""
    if isinstance(a, Tensor):
        return torch.cat([a, b], 0) if a.dim() else a
    if dataclasses.is_dataclass(a):
        return type(a)(**{f.name: tree_cat(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)})
    if isinstance(a, (list, tuple)):
        return type(a)(tree_cat(x, y) for x, y in zip(a, b))
    return a


def tree_bytes(state: Any) -> int:
    """Memory held by a state, in bytes (for the prefix-state cache's budget)."""
    acc = [0]

    def count(t: Tensor) -> Tensor:
        acc[0] += t.numel() * t.element_size()
        return t

    tree_map(count, state)
    return acc[0]


def tree_leaves(state: Any) -> list[Tensor]:
    """The tensors of a state in a fixed order (the same for two states of the same model)."""
    out: list[Tensor] = []
    tree_map(lambda t: out.append(t) or t, state)
    return out
