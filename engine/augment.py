"""Format augmentation: a share of training documents rewritten WHOLE into the ways people format Markdown.

The corpus is normalised (one line per paragraph, `- ` bullets, ATX headings, fenced code, `\\n` line ends);
real documents are hard-wrapped at 60-100 columns, use CRLF, `*`/`+` bullets, setext headings, indented or
tab-indented code. `augment(text, seed)` applies a random subset of those rewrites to the whole text, before
its spans are cut (engine.spans reads the rewritten text with the editor's tree), so every infill example of
an augmented document is consistent with the rest of it. Which documents, and which rewrites, follow from a
hash of the document id: the same on every run and machine.

The rewrites are line-based (no tree: they run over the whole corpus in the trainer's main process) and
conservative, so the tree reads the same blocks back: only top-level paragraphs are wrapped, never code,
tables, headings, lists or quotes, and a line is never started with a word that would open a block.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

REWRITES = ("wrap", "crlf", "bullets", "setext", "indented_code", "tabs")

_FENCE = re.compile(r"^(```+|~~~+)")
_BULLET = re.compile(r"^(\s*)- ")
_ATX = re.compile(r"^(#{1,2}) (\S.*?)\s*$")
# a word that would open a block (or end a paragraph) at the start of a line
_OPENS_BLOCK = re.compile(r"^(?:[-+*>#|=<`~_]|\d{1,9}[.)](?:\s|$)|\[\^?[^\]]*\]:)")
_PLAIN_START = re.compile(r"^[^\s\-+*>#|=<`~_\d\[]")  # a paragraph line the wrapper may touch


@dataclass(frozen=True)
class AugmentPlan:
    """What one document gets: the wrap width (0: no wrapping), the bullet character, and the flags."""

    width: int = 0
    crlf: bool = False
    bullet: str = ""  # "*" or "+" ("" keeps "-")
    setext: bool = False
    indented_code: bool = False
    tabs: bool = False  # indented code with a tab (with indented_code)

    @property
    def rewrites(self) -> list[str]:
        return [n for n, on in zip(REWRITES, (self.width, self.crlf, self.bullet, self.setext, self.indented_code,
                                              self.tabs)) if on]


def _hash(doc_id: str, salt: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{salt}:{doc_id}".encode("utf-8"), digest_size=8).digest(), "little")


def is_augmented(doc_id: str, rate: float) -> bool:
    """Whether a document is rewritten (a hash of its id; independent of the validation split's hash)."""
    return rate > 0 and (_hash(doc_id, "augment") % 1_000_000) < rate * 1_000_000


def plan_for(doc_id: str) -> AugmentPlan:
    """The rewrites of an augmented document: hard wrapping most often (it is how most real Markdown is
    written), each other rewrite on a share of documents, at least one rewrite always."""
    rng = random.Random(_hash(doc_id, "plan"))
    width = rng.randint(60, 100) if rng.random() < 0.7 else 0
    crlf = rng.random() < 0.3
    bullet = rng.choice("*+") if rng.random() < 0.4 else ""
    setext = rng.random() < 0.3
    indented = rng.random() < 0.35
    tabs = indented and rng.random() < 0.4
    if not (width or crlf or bullet or setext or indented):
        width = rng.randint(60, 100)
    return AugmentPlan(width, crlf, bullet, setext, indented, tabs)


# ---------------------------------------------------------------------------------------- the rewrites
def wrap_line(line: str, width: int) -> str:
    """One paragraph line hard-wrapped at `width` columns (greedy, at spaces). A word that would open a
    block at the start of a line stays on the line before, and so does a word longer than the width."""
    words = line.split(" ")
    if len(line) <= width or len(words) < 2:
        return line
    out, cur = [], words[0]
    for w in words[1:]:
        if not w:  # double spaces: keep them inside the line (never leave a line ending in a space)
            cur += " "
            continue
        if len(cur) + 1 + len(w) <= width or _OPENS_BLOCK.match(w) or cur.endswith(" ") or not cur.strip():
            cur += " " + w
        else:
            out.append(cur)
            cur = w
    out.append(cur)
    return "\n".join(out)


def _blocks(lines: list[str]):
    """(kind, start, end) line ranges: 'fence' (a fenced code block, fences included), 'blank', 'text'."""
    i, n = 0, len(lines)
    while i < n:
        m = _FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < n and not lines[j].startswith(m.group(1)[:3]):
                j += 1
            yield "fence", i, min(j + 1, n)
            i = j + 1
        elif not lines[i].strip():
            yield "blank", i, i + 1
            i += 1
        else:
            j = i + 1
            while j < n and lines[j].strip() and not _FENCE.match(lines[j]):
                j += 1
            yield "text", i, j
            i = j


def _is_paragraph(block: list[str]) -> bool:
    return len(block) == 1 and bool(_PLAIN_START.match(block[0])) and "|" not in block[0][:1]


def _setext(line: str) -> str | None:
    m = _ATX.match(line)
    if not m or _OPENS_BLOCK.match(m.group(2)) or m.group(2).endswith("#"):
        return None
    title = m.group(2)
    return title + "\n" + ("=" if len(m.group(1)) == 1 else "-") * max(3, min(len(title), 80))


def apply_plan(text: str, plan: AugmentPlan) -> str:
    """`text` (normalised corpus Markdown, `\\n` line ends) with the plan's rewrites applied."""
    lines = text.split("\n")
    out: list[str] = []
    prev_blank, after_list = True, False
    blocks = list(_blocks(lines))
    for k, (kind, s, e) in enumerate(blocks):
        block = lines[s:e]
        next_blank = k + 1 >= len(blocks) or blocks[k + 1][0] == "blank"
        if kind == "fence":
            closed = e - s >= 2 and _FENCE.match(block[-1]) is not None
            code = block[1:-1] if closed else []
            if (plan.indented_code and closed and prev_blank and next_blank and code and not after_list
                    and any(c.strip() for c in code) and code[0].strip() and code[-1].strip()):
                pad = "\t" if plan.tabs else "    "
                out += [pad + c if c.strip() else "" for c in code]
            else:
                out += block
        elif kind == "text":
            if plan.width and prev_blank and next_blank and _is_paragraph(block):
                out.append(wrap_line(block[0], plan.width))
            elif plan.setext and prev_blank and next_blank and len(block) == 1 and _setext(block[0]):
                out.append(_setext(block[0]))
            else:
                if plan.bullet:
                    block = [_BULLET.sub(lambda m: m.group(1) + plan.bullet + " ", ln) for ln in block]
                out += block
        else:
            out += block
        if kind != "blank":  # indented code right after a list would join its last item
            after_list = kind == "text" and bool(re.match(r"^(?:\s+|[-+*] |\d{1,9}[.)] )", block[-1]))
        prev_blank = kind == "blank"
    new = "\n".join(out)
    return new.replace("\n", "\r\n") if plan.crlf else new


def augment(doc_id: str, text: str, rate: float) -> str:
    """The document's text as training sees it: rewritten for a `rate` share of documents, else unchanged."""
    if not is_augmented(doc_id, rate) or "\r" in text:
        return text
    return apply_plan(text, plan_for(doc_id))
