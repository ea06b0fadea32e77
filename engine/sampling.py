"""Sampling the next byte on the device: the UTF-8 automaton as tables indexed by each stream's state, and
a sampler with no host sync (temperature, top-p, the exponential race over pre-drawn noise), so both the
graphed decoding loop (engine.cuda_graph) and the sampler (engine.generate) use one definition."""

from __future__ import annotations

import torch
from torch import Tensor

from engine.bytes import CONTROL_BYTES, Utf8State


def utf8_tables() -> tuple[Tensor, Tensor, Tensor]:
    """Utf8State as an automaton over its 8 states (state 0: between characters): next (S, 256) long,
    allowed (S, 256) bool (text bytes that may come next; no control byte), complete (S,) bool."""
    states, index, trans = [Utf8State()], {Utf8State().key(): 0}, []
    while len(trans) < len(states):
        u, row = states[len(trans)], []
        for b in range(256):
            v = u.copy()
            try:
                v.push(b)
            except ValueError:
                row.append(-1)
                continue
            if v.key() not in index:
                index[v.key()] = len(states)
                states.append(v)
            row.append(index[v.key()])
        trans.append(row)
    nxt = torch.tensor(trans)
    allowed = nxt >= 0
    allowed[:, sorted(CONTROL_BYTES)] = False
    complete = torch.tensor([u.complete() for u in states])
    return nxt.clamp(min=0), allowed, complete


def mask_table(stop_bytes: list[int]) -> tuple[Tensor, Tensor]:
    """(S, 256) allowed bytes per UTF-8 state with the stop bytes allowed between characters, and the
    transitions (a stop byte leaves the state as it is: the stream ends there)."""
    nxt, allowed, complete = utf8_tables()
    for s in stop_bytes:
        allowed[complete, s] = True
        nxt[complete, s] = torch.nonzero(complete)[:, 0]
    return allowed, nxt


def sample_rows(logits: Tensor, allowed: Tensor, noise: Tensor, temperature: Tensor,
                top_p: Tensor) -> tuple[Tensor, Tensor]:
    """Next byte per row and its log-probability, with no host sync (so it runs inside a CUDA graph).
    logits (n, 256); allowed (n, 256) bool; noise (n, 256) Exp(1) draws; temperature, top_p 0-dim tensors.
    Sampling by the exponential race: argmax p_i / E_i picks i with probability p_i. temperature <= 0: argmax."""
    logits = logits.masked_fill(~allowed, float("-inf"))
    scaled = logits / temperature.clamp(min=1e-6)
    probs = torch.softmax(scaled, dim=-1)
    sorted_p, idx = probs.sort(dim=-1, descending=True)
    drop = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set reaching top_p
    probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p.masked_fill(drop, 0.0))
    nxt = torch.where(temperature > 0, (probs / noise).argmax(-1), logits.argmax(-1))
    return nxt, torch.log_softmax(scaled, -1).gather(1, nxt[:, None])[:, 0]
