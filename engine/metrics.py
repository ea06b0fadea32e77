"""Bits per byte: the one measure every model here is judged by (validation, `score`, `eval`, bench)."""

from __future__ import annotations

import math

LN2 = math.log(2)


def bits_per_byte(nats: float, nbytes: int) -> float:
    """Total cross-entropy in nats over `nbytes` predicted bytes, as bits per byte (0 for no bytes)."""
    return float(nats) / nbytes / LN2 if nbytes else 0.0


def nats_to_bits(nats):
    """Nats to bits, for a number or a tensor (entropies, surprisals, per-token losses)."""
    return nats / LN2
