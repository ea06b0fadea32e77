"""What accepting a candidate would do to the document as it is now (UI-free): the nodes of the current
text it replaces, counted by kind, and a line diff of the Markdown, in context. The candidate view and
the confirm before a replacing accept show it; `removes` says whether anything existing goes.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from app import writing
from engine.actions import span_rule
from engine.document import Document

CONTEXT = 3  # unchanged lines shown around a change
# how each kind of replaced node is counted, in the order a summary names them
_KINDS = (("subsection", "subsections"), ("heading", "headings"), ("paragraph", "paragraphs"),
          ("sentence", "sentences"), ("block", "blocks"))


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@dataclass(frozen=True)
class ChangePreview:
    replaced: dict[str, int]  # kind (see _KINDS) -> how many of the current nodes the candidate replaces
    removed_chars: int  # characters of the current text it replaces
    added_chars: int  # characters of the candidate's text
    diff: list[str] = field(default_factory=list)  # "  " context, "- " removed, "+ " added, "… " skipped lines
    error: str | None = None  # why the candidate cannot be applied to the document now

    @property
    def removes(self) -> bool:
        """Something existing goes (asked about before accepting)."""
        return self.removed_chars > 0

    @property
    def counts(self) -> str:
        """ "7 subsections, 12 paragraphs, 31 sentences" (what it replaces), "" for nothing."""
        return ", ".join(plural(self.replaced[k], k, many) for k, many in _KINDS if self.replaced.get(k))

    def summary(self) -> str:
        if self.error:
            return f"cannot be applied: {self.error}"
        if not self.removes:
            return f"adds {plural(self.added_chars, 'character', 'characters')}, replaces nothing"
        what = self.counts
        return f"replaces {what + ', ' if what else ''}{plural(self.removed_chars, 'character', 'characters')}"


def replaced_nodes(doc: Document, start: int, end: int, section: bool) -> dict[str, int]:
    """The nodes whose text lies inside `markdown[start:end]`, counted by kind (headings in a section
    body are its subsections)."""
    counts: dict[str, int] = {}
    if start >= end:
        return counts
    for node in doc.walk():
        if node.parent is None:
            continue
        s, e = doc.span(node.id)
        if start <= s and e <= end and s < e:
            kind = str(node.kind)
            kind = "subsection" if kind == "heading" and section else kind
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def common_ends(a: Sequence, b: Sequence) -> tuple[int, int]:
    """Lengths of the longest common start of `a` and `b`, and of their longest common end after it."""
    n = min(len(a), len(b))
    head = 0
    while head < n and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < n - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


def diff_lines(old: str, new: str, context: int = CONTEXT) -> list[str]:
    """A line diff of `old` against `new`, the unchanged lines around each change kept (`context`), the
    rest skipped ("… N unchanged lines"). The common head and tail are cut first: linear on big documents."""
    a, b = old.splitlines(), new.splitlines()
    head, tail = common_ends(a, b)
    lo = max(0, head - context)
    out = [f"… {lo:,} unchanged lines"] if lo else []
    mid_a, mid_b = a[lo:len(a) - tail + min(context, tail)], b[lo:len(b) - tail + min(context, tail)]
    for group in difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_grouped_opcodes(context):
        if out and group[0][1] > 0 and not out[-1].startswith("…"):
            out.append("…")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [f"  {line}" for line in mid_a[i1:i2]]
            else:
                out += [f"- {line}" for line in mid_a[i1:i2]]
                out += [f"+ {line}" for line in mid_b[j1:j2]]
    rest = tail - min(context, tail)
    if rest:
        out.append(f"… {rest:,} unchanged lines")
    return out


def preview(proposal: writing.Proposal, texts: list[str], index: int, doc: Document) -> ChangePreview:
    """What accepting candidate `index` of `proposal` does to `doc` (the document as it is now)."""
    text = texts[index] if 0 <= index < len(texts) else ""
    try:
        span = span_rule(proposal.action, proposal.add)(doc, proposal.node_id)
        new_doc, _ = writing.apply(proposal, texts, index, onto=doc)
    except (ValueError, KeyError) as exc:  # ActionRefused, InputRefused, a node gone since
        return ChangePreview({}, 0, len(text.strip()), error=str(exc).strip("'\""))
    md = doc.to_markdown()
    replaced = replaced_nodes(doc, span.start, span.end, section=span.level == "section")
    return ChangePreview(replaced, span.end - span.start, len(text.strip()), diff_lines(md, new_doc.to_markdown()))
