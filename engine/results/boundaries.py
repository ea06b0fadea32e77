"""Where a segmentation's boundaries fall against another's, and whether a model's next-byte entropy peaks
at token boundaries more often than chance. Torch-free: offsets and per-byte numbers in, counts out.

A boundary is a byte offset where a unit (chunk, token, word) begins. Offset 0 begins every segmentation,
so it is left out of every score: only offsets 1 .. n-1 count.
"""

from __future__ import annotations

import math
import random

WHITESPACE = frozenset(b" \t\n\r\f\v")


# ---------------------------------------------------------------- reference boundaries
def whitespace_offsets(data: bytes) -> list[int]:
    """Offsets of whitespace bytes: where a tokenizer that attaches a space to the next word (GPT-2's
    byte-level BPE: " the") begins a token."""
    return [i for i in range(1, len(data)) if data[i] in WHITESPACE]


def word_starts(data: bytes) -> list[int]:
    """Offsets of the first byte of each word (a non-whitespace byte after whitespace): where a
    tokenizer that keeps the space on the previous word ("the ") begins a token."""
    return [i for i in range(1, len(data)) if data[i] not in WHITESPACE and data[i - 1] in WHITESPACE]


def inner(offsets, n: int) -> set[int]:
    """The offsets that count: 1 .. n-1."""
    return {i for i in offsets if 0 < i < n}


# ---------------------------------------------------------------- agreement
def agreement(predicted, reference, n: int) -> dict:
    """Precision, recall and F1 of `predicted` boundaries against `reference` ones on n bytes (exact
    offsets), with the counts they come from. None where a ratio has no denominator."""
    p, r = inner(predicted, n), inner(reference, n)
    return counts_to_scores(len(p & r), len(p), len(r))


def counts_to_scores(tp: int, predicted: int, reference: int) -> dict:
    precision = tp / predicted if predicted else None
    recall = tp / reference if reference else None
    f1 = 2 * tp / (predicted + reference) if predicted + reference else None
    return dict(tp=tp, n_predicted=predicted, n_reference=reference, precision=precision, recall=recall, f1=f1)


# ---------------------------------------------------------------- entropy peaks
def entropy_peaks(entropy: list[float]) -> list[int]:
    """Offsets i (1 .. n-1) where the entropy of the model's distribution for byte i is a local maximum:
    above the previous byte's and not below the next one's (the last byte compares with its previous only).
    A peak at i says: after byte i-1 the model could not tell what comes next, as at the start of a token."""
    n = len(entropy)
    return [i for i in range(1, n) if entropy[i] > entropy[i - 1] and (i == n - 1 or entropy[i] >= entropy[i + 1])]


def _hits(peaks: list[int], reference: set[int], shift: int, n: int) -> int:
    """Peaks moved by `shift` (circularly over 1 .. n-1) that land on a reference boundary."""
    m = n - 1
    return sum(((p - 1 + shift) % m) + 1 in reference for p in peaks)


def peak_coincidence(peaks, reference, n: int, shifts: int = 200, min_shift: int = 64, seed: int = 0,
                     profile: tuple[int, ...] = (-2, -1, 1, 2)) -> dict:
    """How often entropy peaks fall on reference boundaries, against chance.

    observed  precision: the fraction of peaks that are reference boundaries (and recall: the fraction of
              reference boundaries that are peaks).
    uniform   the precision of peaks placed uniformly at random: the reference's share of offsets.
    offset    the precision of the same peaks moved by `shifts` random circular offsets of at least
              `min_shift` bytes: keeps the peaks' number and spacing, breaks their alignment with the text.
              mean and standard deviation; z = (observed - mean) / sd; p = (1 + #{shifted >= observed})
              / (1 + shifts), one-sided.
    lift      observed / offset mean.
    profile   precision with the peaks moved by a few bytes (-1: one byte earlier), to see where peaks sit
              relative to the boundaries when they miss.
    With several documents, pass their offsets laid end to end (n the total length)."""
    ref = inner(reference, n)
    pk = sorted(inner(peaks, n))
    m = n - 1
    if not pk or not ref or m <= 2 * min_shift:
        return dict(n_peaks=len(pk), n_reference=len(ref), bytes=n, precision=None, recall=None, uniform=None,
                    offset_mean=None, offset_sd=None, z=None, p=None, lift=None, profile={})
    tp = _hits(pk, ref, 0, n)
    observed = tp / len(pk)
    rng = random.Random(seed)
    shifted = [_hits(pk, ref, rng.randrange(min_shift, m - min_shift + 1), n) / len(pk) for _ in range(shifts)]
    mean = sum(shifted) / len(shifted)
    sd = math.sqrt(sum((x - mean) ** 2 for x in shifted) / max(1, len(shifted) - 1))
    return dict(n_peaks=len(pk), n_reference=len(ref), bytes=n, tp=tp, precision=observed, recall=tp / len(ref),
                uniform=len(ref) / m, offset_mean=mean, offset_sd=sd,
                z=(observed - mean) / sd if sd > 0 else None,
                p=(1 + sum(x >= observed for x in shifted)) / (1 + len(shifted)),
                lift=observed / mean if mean > 0 else None,
                profile={str(k): _hits(pk, ref, k, n) / len(pk) for k in profile})


# ---------------------------------------------------------------- several documents as one
def concatenate(docs: list[tuple[int, dict[str, list[int]]]]) -> tuple[int, dict[str, list[int]]]:
    """(n, {name: offsets}) per document -> the same laid end to end. A document's offset 0 stays out (it is
    not a boundary inside the text), so the join between documents is never a boundary."""
    total, out = 0, {}
    for n, sets in docs:
        for name, offs in sets.items():
            out.setdefault(name, []).extend(total + i for i in offs if 0 < i < n)
        total += n
    return total, out


def unigram_entropy(counts: dict) -> float:
    """Entropy (bits) of the empirical distribution with these counts."""
    tot = sum(counts.values())
    return -sum(c / tot * math.log2(c / tot) for c in counts.values() if c) if tot else 0.0
