"""Fractional-index order keys: strings that sort lexicographically, with room between any two.

A key is a base-62 fraction `0.d1d2d3…` written as its digits (`DIGITS` is in ASCII order, so string
order == numeric order). Keys never end in the smallest digit "0", so there is always a key below any
key, and `key_between(a, b)` always exists. Inserting a node therefore changes only that node's key.
This is the usual fractional-indexing scheme (as in the `fractional-indexing` package), kept here in a
few lines so the project needs no extra dependency.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(DIGITS)
_VALUE = {c: i for i, c in enumerate(DIGITS)}


def key_between(a: str | None, b: str | None) -> str:
    """A key strictly between `a` and `b` (None = open end). Raises ValueError unless a < b."""
    if a is not None and b is not None and not a < b:
        raise ValueError(f"order keys out of order: {a!r} >= {b!r}")
    a = a or ""
    prefix: list[str] = []
    i = 0
    while True:
        da = _VALUE[a[i]] if i < len(a) else 0
        db = _VALUE[b[i]] if b is not None and i < len(b) else _BASE
        if da == db:  # common digit: copy it and look further
            prefix.append(DIGITS[da])
        else:
            mid = (da + db) // 2
            if mid > da:  # room at this digit (mid > 0, so the key never ends in "0")
                return "".join(prefix) + DIGITS[mid]
            # adjacent digits: take a's digit; below b already, so b no longer bounds the rest
            prefix.append(DIGITS[da])
            b = None
        i += 1


def keys_between(a: str | None, b: str | None, n: int) -> list[str]:
    """`n` ascending keys strictly between `a` and `b`, by bisection (key length grows ~log n)."""
    if n <= 0:
        return []
    mid = key_between(a, b)
    half = n // 2
    return keys_between(a, mid, half) + [mid] + keys_between(mid, b, n - half - 1)


def repair_keys(keys: list[str | None]) -> list[str]:
    """Keys for a list of siblings, keeping as many existing keys as possible.

    Keeps a longest strictly increasing subsequence of the given keys (None = no key yet) and fills
    the gaps between kept keys with fresh ones, so moving or inserting one sibling re-keys only it.
    """
    keep = _longest_increasing(keys)
    out: list[str] = []
    i = 0
    while i < len(keys):
        if i in keep:
            out.append(keys[i])  # type: ignore[arg-type]
            i += 1
            continue
        j = i
        while j < len(keys) and j not in keep:
            j += 1
        lo = out[-1] if out else None
        hi = keys[j] if j < len(keys) else None
        out.extend(keys_between(lo, hi, j - i))
        i = j
    return out


def _longest_increasing(keys: list[str | None]) -> set[int]:
    """Indices of a longest strictly increasing subsequence of the non-None keys (patience sort)."""
    import bisect

    tails: list[str] = []  # smallest tail key of an increasing run of each length
    tail_idx: list[int] = []
    back: dict[int, int | None] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        pos = bisect.bisect_left(tails, k)
        back[i] = tail_idx[pos - 1] if pos else None
        if pos == len(tails):
            tails.append(k)
            tail_idx.append(i)
        else:
            tails[pos] = k
            tail_idx[pos] = i
    keep: set[int] = set()
    cur = tail_idx[-1] if tail_idx else None
    while cur is not None:
        keep.add(cur)
        cur = back[cur]
    return keep
