"""Markdown text → a flat list of *units* (headings, paragraphs, opaque blocks) with exact tails.

markdown-it-py finds the top-level block boundaries (token `.map` line ranges); everything between
blocks is kept verbatim: blank lines join the previous unit's tail, and any other lines there (link
reference definitions, which produce no token) become opaque blocks. So concatenating
`lead + unit.text + unit.tail …` gives back the input exactly. Nesting by heading level is done by the
document (`Document._renest`), not here.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from .nodes import Kind, Node
from .segment import split_sentences

# Lines as markdown-it counts them: it normalises \r\n and \r to \n before splitting.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_BLANK = re.compile(r"[ \t]*(?:\r\n|\r|\n)?\Z")
_MD_SPACE = " \t\r\n"  # what Markdown treats as blank; other Unicode spaces are content

_md = MarkdownIt("commonmark").enable("table").disable("inline")  # block structure is all we need


def split_lines(text: str) -> list[str]:
    return _LINE.findall(text)


def parse_units(text: str, front_matter: bool = True, ids: bool = True) -> tuple[str, list[Node]]:
    """Parse `text` into (lead, units): `lead` is the blank text before the first unit. `ids=False`: the
    nodes get no ids yet (id ""), for a caller that hands them out itself (a whole import: in bulk)."""
    nid = None if ids else ""
    lines = split_lines(text)
    units: list[Node] = []
    lead = ""
    pos = 0
    for start, end, kind, level in _blocks(lines, front_matter):
        lead = _gap(lines[pos:start], units, lead, nid)
        _add_unit(units, "".join(lines[start:end]), kind, level, nid)
        pos = end
    lead = _gap(lines[pos:], units, lead, nid)
    return lead, units


def _blocks(lines: list[str], front_matter: bool):
    """Yield (start_line, end_line, kind, level) for each top-level block, in order."""
    offset = _front_matter_end(lines) if front_matter else 0
    if offset:
        yield 0, offset, Kind.BLOCK, 0
    tokens = _md.parse("".join(lines[offset:]))
    for tok in tokens:
        if tok.level != 0 or tok.nesting < 0 or tok.map is None:
            continue
        start, end = tok.map[0] + offset, tok.map[1] + offset
        if tok.type == "heading_open":
            yield start, end, Kind.HEADING, int(tok.tag[1])
        elif tok.type == "paragraph_open":
            yield start, end, Kind.PARAGRAPH, 0
        else:
            yield start, end, Kind.BLOCK, 0


def _front_matter_end(lines: list[str]) -> int:
    """Line count of a YAML front matter block (`---` first line, a non-blank line, a closing
    `---`/`...` line), or 0. A bare `---` rule followed by a blank line is not front matter."""
    if len(lines) < 3 or lines[0].rstrip(_MD_SPACE) != "---" or _BLANK.match(lines[1]):
        return 0
    for i in range(2, len(lines)):
        if lines[i].rstrip(_MD_SPACE) in ("---", "..."):
            return i + 1
    return 0


def _gap(lines: list[str], units: list[Node], lead: str, nid: str | None = None) -> str:
    """Lines between blocks: blank ones extend the previous tail, runs of others become blocks."""
    run: list[str] = []
    for line in lines:
        if _BLANK.match(line) and not run:
            if units:
                units[-1].tail += line
            else:
                lead += line
            continue
        if _BLANK.match(line):
            _add_unit(units, "".join(run), Kind.BLOCK, 0, nid)
            run = []
            units[-1].tail += line
        else:
            run.append(line)
    if run:
        _add_unit(units, "".join(run), Kind.BLOCK, 0, nid)
    return lead


def _add_unit(units: list[Node], source: str, kind: Kind, level: int, nid: str | None = None) -> None:
    """`nid`: None for a fresh id per node, "" for none yet."""
    body = source.rstrip(_MD_SPACE)  # markdown-it blocks start on a non-blank line: never empty
    tail = source[len(body):]
    if kind is Kind.PARAGRAPH:
        unit = Node(kind, "", tail, id=nid)
        set_sentences(unit, split_sentences(body), nid)
    else:
        unit = Node(kind, body, tail, level, id=nid)
    units.append(unit)


def set_sentences(paragraph: Node, pieces: list[tuple[str, str]], nid: str | None = None) -> None:
    """Give a paragraph fresh sentence children (the caller re-attaches known ids)."""
    paragraph.children = []
    for text, gap in pieces:
        child = Node(Kind.SENTENCE, text, gap, id=nid)
        child.parent = paragraph
        paragraph.children.append(child)
