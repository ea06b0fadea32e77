"""The byte vocabulary: 256 byte values, some of them reserved as control bytes.

Bytes 0xC0, 0xC1 and 0xF5-0xFF never occur in valid UTF-8, so they can mark structure
(beginning/end of a document, fill-in-the-middle sentinels) without any escaping and
without a tokenizer. This module is the one place that names them.
"""

from __future__ import annotations

from functools import lru_cache

VOCAB_SIZE = 256

BOS = 0xF5  # beginning of a document / of a training window
EOS = 0xF6  # end of a generated span (the stop byte of every infill)
FIM_PREFIX = 0xF7  # the text before the span follows
FIM_SUFFIX = 0xF8  # the text after the span follows
FIM_MIDDLE = 0xF9  # the span itself follows (what the model writes)
TASK = 0xFA  # an action tag follows (ASCII name, e.g. b"rewrite:sentence"), ended by the next control byte
OLD = 0xFB  # the old text of a rewrite follows
INSTRUCTION = 0xFC  # the writer's instruction for a rewrite follows
SUFFIX_HEAD = 0xFD  # the start of the suffix again, read right before the span (engine.tasks.suffix_head)
# 0xFE, 0xFF, 0xC0, 0xC1: spare, never produced.

CONTROL_BYTES = frozenset({0xC0, 0xC1, *range(0xF5, 0x100)})
NAMES = {
    BOS: "BOS", EOS: "EOS", FIM_PREFIX: "PRE", FIM_SUFFIX: "SUF", FIM_MIDDLE: "MID",
    TASK: "TASK", OLD: "OLD", INSTRUCTION: "INS", SUFFIX_HEAD: "NXT",
}


def is_control(byte: int) -> bool:
    return byte in CONTROL_BYTES


def encode(text: str) -> bytes:
    """UTF-8 bytes of text. Valid UTF-8 never contains a control byte."""
    return text.encode("utf-8")


def strip_controls(data: bytes) -> bytes:
    return bytes(b for b in data if b not in CONTROL_BYTES)


def show(data: bytes) -> str:
    """Readable rendering of a byte string with control bytes named, e.g. '<PRE>Hello<MID>'."""
    out, text = [], bytearray()
    for b in data:
        if b in CONTROL_BYTES:
            if text:
                out.append(text.decode("utf-8", errors="replace"))
                text.clear()
            out.append(f"<{NAMES.get(b, hex(b))}>")
        else:
            text.append(b)
    if text:
        out.append(text.decode("utf-8", errors="replace"))
    return "".join(out)


class Utf8State:
    """Incremental UTF-8 validity: which bytes may come next so the output stays valid.

    `allowed()` is consulted by the sampler; `push(b)` advances. Encodes the well-formed
    byte sequences table of the Unicode standard (no overlongs, no surrogates, <= U+10FFFF).
    """

    __slots__ = ("need", "lo", "hi")

    def __init__(self) -> None:
        self.need = 0  # continuation bytes still expected
        self.lo, self.hi = 0x80, 0xBF  # range allowed for the next continuation byte

    @classmethod
    def at(cls, need: int, lo: int, hi: int) -> "Utf8State":
        """The state with these fields (the inverse of `key`)."""
        u = cls()
        u.need, u.lo, u.hi = need, lo, hi
        return u

    def key(self) -> tuple[int, int, int]:
        """The state as a value: equal keys, the same bytes may follow."""
        return (self.need, self.lo, self.hi)

    def copy(self) -> "Utf8State":
        return Utf8State.at(*self.key())

    def complete(self) -> bool:
        return self.need == 0

    def allowed_range(self) -> list[tuple[int, int]]:
        """Inclusive byte ranges that may come next (text bytes only; no control bytes)."""
        if self.need:
            return [(self.lo, self.hi)]
        return [(0x00, 0x7F), (0xC2, 0xF4)]

    def push(self, b: int) -> None:
        if self.need:
            if not (self.lo <= b <= self.hi):
                raise ValueError(f"byte {b:#x} cannot continue a UTF-8 sequence here")
            self.need -= 1
            self.lo, self.hi = 0x80, 0xBF
            return
        if b <= 0x7F:
            return
        if 0xC2 <= b <= 0xDF:
            self.need = 1
        elif b == 0xE0:
            self.need, self.lo = 2, 0xA0
        elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
            self.need = 2
        elif b == 0xED:
            self.need, self.hi = 2, 0x9F
        elif b == 0xF0:
            self.need, self.lo = 3, 0x90
        elif 0xF1 <= b <= 0xF3:
            self.need = 3
        elif b == 0xF4:
            self.need, self.hi = 3, 0x8F
        else:
            raise ValueError(f"byte {b:#x} cannot start a UTF-8 sequence")



def allowed_mask(state: Utf8State, stop_bytes: tuple[int, ...] = ()) -> bytes:
    """256 bytes, 1 where that byte may come next after `state` (Utf8State.allowed_range, no control
    byte, plus `stop_bytes` between characters), else 0: one row of a table built once per UTF-8 state,
    since the sampler needs one per stream per byte (`torch.frombuffer` turns rows into a bool mask)."""
    return _mask_row(*state.key(), tuple(stop_bytes))


@lru_cache(maxsize=256)
def _mask_row(need: int, lo: int, hi: int, stop_bytes: tuple[int, ...]) -> bytes:
    u = Utf8State.at(need, lo, hi)
    row = bytearray(256)
    for a, b in u.allowed_range():
        row[a:b + 1] = b"\x01" * (b + 1 - a)
    for c in CONTROL_BYTES:
        row[c] = 0
    if u.complete():
        for c in stop_bytes:
            row[c] = 1
    return bytes(row)
