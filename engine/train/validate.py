"""Validation: bits per byte (engine.metrics, the one definition) on each example's own target bytes."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from engine.examples import Example
from engine.metrics import bits_per_byte


def _batch_nll(model, chunk: list[Example], device, use_bf16: bool) -> torch.Tensor:
    """Per-position next-byte cross-entropy (nats) of a zero-padded batch, [len(chunk), L - 1] on the CPU."""
    L = max(len(e.data) for e in chunk)
    ids = torch.zeros(len(chunk), L, dtype=torch.long)
    for r, e in enumerate(chunk):
        ids[r, :len(e.data)] = torch.tensor(list(e.data))
    ids = ids.to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext():
        logits = model(ids).logits
    nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                          reduction="none")
    return nll.view(len(chunk), L - 1).cpu()


def evaluate(model, examples: list[Example], device, use_bf16: bool = False, batch_size: int = 8) -> dict:
    """Bits per byte of the model on each example's own target bytes (the middle and EOS for an infill,
    everything after BOS for plain text), overall, per kind and per source."""
    if not examples:
        return {}
    was_training = model.training
    model.eval()
    sums: dict[str, list[float]] = {}
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].data))
    with torch.no_grad():
        for k in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[k:k + batch_size]]
            nll = _batch_nll(model, chunk, device, use_bf16)
            for r, e in enumerate(chunk):
                nats = float(nll[r, e.target_start - 1:len(e.data) - 1].sum())
                for key in ("all", f"kind/{e.kind}", f"source/{e.source}"):
                    s = sums.setdefault(key, [0.0, 0])
                    s[0] += nats
                    s[1] += len(e.data) - e.target_start
    if was_training:
        model.train()
    return {k: round(bits_per_byte(nats, max(n, 1)), 5) for k, (nats, n) in sorted(sums.items())}
