"""The node types of the document tree and their persisted form."""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


class InputRefused(ValueError):
    """Input or an edit that scriba will not take; the message is one human-readable line."""


class Kind(StrEnum):
    ROOT = "root"  # the invisible document root: holds a BOM (text) and leading blank lines (tail)
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    SENTENCE = "sentence"
    BLOCK = "block"  # opaque: list, code, quote, table, HTML, front matter, reference definitions, rule


@dataclass
class NodeRecord:
    """The persisted form of one node (the store saves exactly these fields).

    `text` is the node's *own* source text: a heading line (without its newline), a sentence (without
    the whitespace after it), a block's lines; "" for a paragraph (its text lives in its sentences)
    and for the root (unless the file starts with a BOM). `tail` is the exact text after it that it
    owns: blank lines and line breaks after a unit, the spaces between sentences.
    """

    id: str
    kind: str
    parent_id: str | None
    order: str
    level: int
    text: str
    tail: str


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits; what uuid.uuid4().hex gives, at a third of the cost
    (import makes one per node)."""
    n = int.from_bytes(os.urandom(16), "big")
    n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{n:032x}"


# byte 6 of a version 4 UUID is 0x4?, byte 8 is 0b10??????: as byte translation tables
_VERSION = bytes(b & 0x0F | 0x40 for b in range(256))
_VARIANT = bytes(b & 0x3F | 0x80 for b in range(256))


def new_ids(n: int) -> list[str]:
    """`n` ids as `new_id` makes them, in ascending order, from one read of the random source and no
    per-id arithmetic: an import hands out hundreds of thousands (a 20 MB document: 372k)."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    digits = raw.hex()
    ids = [digits[i:i + 32] for i in range(0, 32 * n, 32)]
    ids.sort()
    return ids


_ATX = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")


class Node:
    """One node. Paragraph text is derived from its sentences; everything else holds its own text."""

    __slots__ = ("id", "kind", "level", "_text", "tail", "parent", "children", "order")

    def __init__(self, kind: Kind, text: str = "", tail: str = "", level: int = 0,
                 id: str | None = None, order: str | None = None) -> None:
        self.id = new_id() if id is None else id  # "": none yet (an import hands them out in bulk)
        self.kind = kind if kind.__class__ is Kind else Kind(kind)
        self.level = level
        self._text = text
        self.tail = tail
        self.parent: Node | None = None
        self.children: list[Node] = []
        self.order = order  # None until the document assigns a key

    @property
    def text(self) -> str:
        """The node's exact content: for a paragraph, its sentences and the spaces between them."""
        if self.kind is Kind.PARAGRAPH:
            return "".join(c._text + c.tail for c in self.children)
        return self._text

    @property
    def own_text(self) -> str:
        """What `NodeRecord.text` stores ("" for a paragraph)."""
        return self._text

    @property
    def plain(self) -> str:
        """The text without Markdown markers: a heading's title without `#`/underline."""
        if self.kind is not Kind.HEADING:
            return self.text.strip()
        lines = self._text.splitlines()
        if len(lines) > 1 or not _ATX.match(self._text):  # setext: title lines, then the underline
            return " ".join(line.strip() for line in lines[:-1])
        title = _ATX.sub("", self._text, count=1)
        return _ATX_CLOSE.sub("", title).strip()

    def record(self) -> NodeRecord:
        return NodeRecord(self.id, self.kind.value, self.parent.id if self.parent else None,
                          self.order or "", self.level, self._text, self.tail)

    def __repr__(self) -> str:
        return f"Node({self.kind.value}, {self.id[:8]}, level={self.level}, {self.text[:40]!r})"


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block (if it was on, it is on again after it).

    Building a tree of tens of thousands of nodes allocates hundreds of thousands of objects, none of them
    garbage; the collector would otherwise run every few hundred allocations and, in a process holding a
    large UI, spend up to a third of the time re-scanning live objects (measured on a 1 MB document)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def check_text(text: str) -> None:
    """Refuse text that is binary (NUL) or cannot be UTF-8 (lone surrogates)."""
    nul = text.find("\x00")
    if nul >= 0:
        raise InputRefused(f"refusing binary input: NUL character at offset {nul}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputRefused(f"refusing text that is not valid Unicode: lone surrogate at offset {exc.start}") from None


def decode(data: bytes) -> str:
    """UTF-8 bytes → str, or InputRefused naming the first offending byte offset. A BOM is kept."""
    nul = data.find(b"\x00")
    try:
        text = data[:nul if nul >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and nul >= 0:  # a sequence cut short by the NUL
            raise InputRefused(f"refusing binary input: NUL byte at byte offset {nul}") from None
        raise InputRefused(f"refusing input that is not UTF-8: invalid byte 0x{data[exc.start]:02x} "
                           f"at byte offset {exc.start}") from None
    if nul >= 0:
        raise InputRefused(f"refusing binary input: NUL byte at byte offset {nul}")
    return text
