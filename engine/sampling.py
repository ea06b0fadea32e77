"""Sampling the next byte on the device, one definition for every decoding path (engine/decode.py, CPU and
CUDA graphs): the UTF-8 automaton as tables indexed by each stream's state, per-row stop bytes, per-row
temperature and top-p, and noise that is a hash of (the stream's key, its byte index), so a stream's sample
depends on its seed alone, not on which other streams share its batch or in which slot it sits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.bytes import CONTROL_BYTES, Utf8State

_M64 = (1 << 64) - 1


def _signed(x: int) -> int:
    x &= _M64
    return x - (1 << 64) if x >> 63 else x


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)
_BYTE_STRIDE = _signed(0xD1B54A32D192ED03)


def row_key(seed: int, index: int) -> int:
    """The noise key of candidate `index` of a request seeded `seed` (splitmix64 of both), as an int64."""
    x = (seed * 0x9E3779B97F4A7C15 + index + 1) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return _signed(x ^ (x >> 31))


def _shr(x: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def counter_noise(key: Tensor, count: Tensor, byte_offsets: Tensor) -> Tensor:
    """Exp(1) draws (n, 256) for byte `count` of each stream: splitmix64 of (key, count, byte), no generator
    state, so it runs inside a CUDA graph and equals on CPU and GPU. byte_offsets: arange(256) * a stride."""
    x = (key + count * _GOLDEN)[:, None] + byte_offsets[None]
    x = (x ^ _shr(x, 30)) * _MIX1
    x = (x ^ _shr(x, 27)) * _MIX2
    x = x ^ _shr(x, 31)
    u = (_shr(x, 40).float() + 0.5) * (1.0 / (1 << 24))  # 24 bits: exact in float32, in (0, 1)
    return -torch.log(u)


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


def stop_row(stop_bytes) -> Tensor:
    """(256,) bool: the stop bytes a stream may write (between characters)."""
    row = torch.zeros(256, dtype=torch.bool)
    row[list(stop_bytes)] = True
    return row


@dataclass
class Tables:
    """The automaton and the noise offsets on one device."""

    next: Tensor  # (S, 256) long
    allowed: Tensor  # (S, 256) bool
    complete: Tensor  # (S,) bool
    byte_offsets: Tensor  # (256,) int64

    @classmethod
    def on(cls, device) -> "Tables":
        nxt, allowed, complete = utf8_tables()
        offsets = torch.arange(256, dtype=torch.long) * _BYTE_STRIDE
        return cls(nxt.to(device), allowed.to(device), complete.to(device), offsets.to(device))

    def mask(self, ustate: Tensor, stop: Tensor) -> Tensor:
        """(n, 256) bool: bytes each stream may write next (its UTF-8 state; its stop bytes between characters)."""
        return self.allowed[ustate] | (self.complete[ustate][:, None] & stop)

    def advance(self, ustate: Tensor, nxt: Tensor, stop: Tensor) -> Tensor:
        """The UTF-8 state after writing nxt (a stop byte ends the stream: its state stays)."""
        stopped = stop.gather(1, nxt[:, None])[:, 0]
        return torch.where(stopped, ustate, self.next[ustate, nxt])


def sample_rows(logits: Tensor, allowed: Tensor, noise: Tensor, temperature: Tensor,
                top_p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Next byte per row, its log-probability and the decision's margin, with no host sync (it runs inside a
    CUDA graph). logits (n, 256); allowed (n, 256) bool; noise (n, 256) Exp(1) draws; temperature, top_p (n,).
    Sampling by the exponential race: argmax log p_i - log E_i picks i with probability p_i (p after top-p);
    temperature <= 0: argmax of the logits. margin: the winner's score minus the runner-up's (how far the
    logits may move before the byte changes; +inf when one byte was allowed)."""
    t = temperature[:, None]
    logits = logits.masked_fill(~allowed, float("-inf"))
    scaled = logits / t.clamp(min=1e-6)
    probs = torch.softmax(scaled, dim=-1)
    sorted_p, idx = probs.sort(dim=-1, descending=True)
    drop = sorted_p.cumsum(-1) - sorted_p > top_p[:, None]  # keep the smallest set reaching top_p
    probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p.masked_fill(drop, 0.0))
    score = torch.where(t > 0, torch.log(probs) - torch.log(noise), logits)
    top, nxt = score.topk(2, dim=-1)
    margin = torch.where(torch.isfinite(top[:, 1]), top[:, 0] - top[:, 1], torch.full_like(top[:, 0], float("inf")))
    nxt = nxt[:, 0]
    return nxt, torch.log_softmax(scaled, -1).gather(1, nxt[:, None])[:, 0], margin
