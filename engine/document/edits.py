"""The edit operations of `Document` (a mixin; the machinery they use is in tree.py).

Each edit returns the ids of the nodes it created, changed or deleted (details in `last_change`).
Refusals (InputRefused) happen before anything changes, or undo what was done.
"""

from __future__ import annotations

from collections.abc import Iterable

from .nodes import InputRefused, Kind, Node, check_text
from .parse import parse_units
from .segment import split_sentences

_MD_SPACE = " \t\r\n"


class Edits:
    """Mixed into `Document`; uses its machinery (_edit, _adopt_range, _child_position, …)."""

    # ---- units: headings, paragraphs, blocks -----------------------------------------------------

    def set_text(self, node_id: str, new_text: str) -> list[str]:
        """Replace a node's text. A paragraph (or a sentence's paragraph) is re-split into sentences,
        keeping the ids of sentences whose text is unchanged. Text that reads as other Markdown
        restructures the tree (a paragraph with a blank line becomes two). A heading must stay a
        heading line; a changed level re-nests the sections around it."""
        node = self.node(node_id)
        if node.kind is Kind.ROOT:
            raise InputRefused("the root has no text of its own; use merge_markdown() for the whole document")
        text = new_text.strip() if node.kind is Kind.SENTENCE else new_text.rstrip(_MD_SPACE).lstrip("\r\n")
        if not text:
            return self.delete(node_id)
        if node.kind is Kind.SENTENCE:
            para = node.parent
            text = "".join((text if s is node else s._text) + s.tail for s in para.children)
            node = para
        units = self._parse_fragment(text + node.tail)
        if node.kind is Kind.HEADING and not (len(units) == 1 and units[0].kind is Kind.HEADING):
            raise InputRefused(f"a heading's text must be one heading line like '## Title', not {text[:40]!r}")
        if len(units) == 1 and (units[0].kind, units[0].level) == (node.kind, node.level) \
                and self._replace_in_place(node, units[0]):
            return self.last_change.ids
        with self._edit() as e:
            i = self._index_of(e.flat, node)
            e.touched += self._adopt_range(e.flat, i, i + 1, units)
        return self.last_change.ids

    def replace_section_body(self, heading_id: str, markdown: str) -> list[str]:
        """Parse `markdown` as the new body of a heading's section (see `span(.., "body")`).
        Headings in it must be deeper than the section's own. A separator is added when the body
        would run into the next heading."""
        head = self.node(heading_id)
        if head.kind is not Kind.HEADING:
            raise InputRefused(f"replace_section_body needs a heading, not a {head.kind.value}")
        lead, units = parse_units(markdown, front_matter=False)
        shallow = [u for u in units if u.kind is Kind.HEADING and u.level <= head.level]
        if shallow:
            raise InputRefused(f"a level-{head.level} section body may only hold deeper headings, "
                               f"not {shallow[0].text[:40]!r}")
        with self._edit() as e:
            i = self._index_of(e.flat, head)
            j = i + 1 + self._descendant_units(head)
            head.tail += lead
            if units and breaks(head.tail) == 0:
                head.tail += self._newline()
            if units and j == len(e.flat) and not units[-1].tail:
                units[-1].tail = e.flat[-1].tail  # the body ends the file: keep how the file ended
            new = self._adopt_range(e.flat, i + 1, j, units)
            e.touched += [head, *new]
            e.seams += new[-1:]
        return self.last_change.ids

    def insert(self, parent_id: str, index: int, kind: str, text: str) -> str:
        """Insert a new node as child `index` of a parent; returns its id. Sentences go into
        paragraphs and must read as one sentence there; headings, paragraphs and blocks go under the
        root or a heading (a heading must be deeper than its parent). A non-heading placed after a
        subsection joins that subsection, as it would in the Markdown."""
        parent, kind = self.node(parent_id), Kind(kind)
        if kind is Kind.SENTENCE:
            return self._insert_sentence(parent, index, text.strip())
        if kind is Kind.ROOT or parent.kind not in (Kind.ROOT, Kind.HEADING):
            raise InputRefused(f"cannot insert a {kind.value} under a {parent.kind.value}")
        units = self._parse_fragment(text.rstrip(_MD_SPACE).lstrip("\r\n"))
        if len(units) != 1 or units[0].kind is not kind:
            got = ", ".join(u.kind.value for u in units) or "nothing"
            raise InputRefused(f"text to insert as a {kind.value} reads as {got}")
        unit = units[0]
        self._check_place(unit, parent, index)
        with self._edit(strict=f"the {kind.value} would merge with its neighbours there") as e:
            pos = self._child_position(e.flat, parent, index)
            e.flat.insert(pos, unit)
            e.touched.append(unit)
            e.seams += [e.flat[pos - 1], unit] if pos else [unit]
        return unit.id

    def delete(self, node_id: str) -> list[str]:
        """Delete a node with everything under it (a heading: its whole section). A paragraph whose
        last sentence goes is deleted too."""
        node = self.node(node_id)
        if node.kind is Kind.ROOT:
            raise InputRefused("the root cannot be deleted")
        if node.kind is Kind.SENTENCE:
            para = node.parent
            if len(para.children) > 1:
                rest = [s for s in para.children if s is not node]
                with self._edit() as e:
                    self._set_sentences(para, rest)
                    e.touched.append(para)
                return self.last_change.ids
            node = para
        with self._edit() as e:
            i = self._index_of(e.flat, node)
            del e.flat[i:i + 1 + self._descendant_units(node)]
            e.touched += e.flat[max(i - 1, 0):i + 1]
            e.seams += e.flat[i - 1:i] if i else []
        return self.last_change.ids

    def move(self, node_id: str, new_parent_id: str, index: int) -> list[str]:
        """Move a node (a heading with its section) to child `index` of a new parent (`index`
        counts the parent's children without the moved node). Same placement rules as `insert`."""
        node, parent = self.node(node_id), self.node(new_parent_id)
        if node.kind is Kind.SENTENCE:
            return self._move_sentence(node, parent, index)
        if node.kind is Kind.ROOT or parent.kind not in (Kind.ROOT, Kind.HEADING):
            raise InputRefused(f"cannot move a {node.kind.value} under a {parent.kind.value}")
        if parent is node or _is_ancestor(node, parent):
            raise InputRefused("cannot move a section into itself")
        self._check_place(node, parent, index, skip=node)
        with self._edit(strict=f"the {node.kind.value} would merge with its neighbours there") as e:
            i = self._index_of(e.flat, node)
            moved = e.flat[i:i + 1 + self._descendant_units(node)]
            del e.flat[i:i + len(moved)]
            before_gap = e.flat[i - 1:i]
            pos = self._child_position(e.flat, parent, index, skip=node)
            e.flat[pos:pos] = moved
            node.order = None
            e.touched += [moved[0], moved[-1], *before_gap, *e.flat[pos + len(moved):pos + len(moved) + 1]]
            e.seams += [*e.flat[pos - 1:pos], moved[-1], *before_gap]
        return self.last_change.ids

    def merge_markdown(self, text: str) -> list[str]:
        """Take the whole document from new Markdown (an external edit), keeping the ids of nodes
        that still match: equal text first, then same kind by position."""
        check_text(text)
        before = self._snapshot()
        self._load(text, self._units())
        self._diff(before)
        return self.last_change.ids

    def settle(self, node_ids: Iterable[str]) -> list[str]:
        """Make the tree read back as itself after records were put together from elsewhere (a node
        restored from an older revision, two writers' changes merged). If the Markdown around the
        named nodes reads as other units, their paragraphs get the spaces needed between sentences,
        and those units (and the unit before each) end in a separator if another follows; if it still
        reads differently, the whole text is re-read, keeping the ids of what matches. Text that
        already reads back is left exactly as it is."""
        units: dict[str, Node] = {}
        for nid in node_ids:
            node = self._by_id.get(nid)
            if node is not None and node.kind is Kind.SENTENCE:
                node = node.parent
            if node is not None and node.kind is not Kind.ROOT:
                units[node.id] = node
        with self._edit() as e:
            e.touched += units.values()
            if not self._reads_back(e.flat, e.touched):
                where = {id(u): i for i, u in enumerate(e.flat)}
                for unit in units.values():
                    if unit.kind is Kind.PARAGRAPH:
                        self._set_sentences(unit, list(unit.children))
                    i = where[id(unit)]
                    e.seams += e.flat[max(i - 1, 0):i + 1]
        return self.last_change.ids

    # ---- sentence edits --------------------------------------------------------------------------

    def _insert_sentence(self, para: Node, index: int, text: str) -> str:
        if para.kind is not Kind.PARAGRAPH:
            raise InputRefused(f"a sentence goes into a paragraph, not a {para.kind.value}")
        if not text:
            raise InputRefused("cannot insert an empty sentence")
        new = Node(Kind.SENTENCE, text)
        sentences = list(para.children)
        sentences.insert(_clamp(index, len(sentences)), new)
        self._check_sentences(sentences)
        with self._edit(strict="the sentence would change the paragraph's Markdown structure") as e:
            self._set_sentences(para, sentences)
            e.touched.append(para)
        return new.id

    def _move_sentence(self, node: Node, para: Node, index: int) -> list[str]:
        if para.kind is not Kind.PARAGRAPH:
            raise InputRefused(f"a sentence goes into a paragraph, not a {para.kind.value}")
        source = node.parent
        rest = [s for s in source.children if s is not node]
        target = rest if para is source else list(para.children)
        target.insert(_clamp(index, len(target)), node)
        self._check_sentences(target)
        if para is not source and rest:
            self._check_sentences(rest)
        with self._edit(strict="the sentence would change the paragraph's Markdown structure") as e:
            if para is not source:
                if rest:
                    self._set_sentences(source, rest)
                    e.touched.append(source)
                else:  # the emptied paragraph goes; its neighbours now meet
                    i = self._index_of(e.flat, source)
                    del e.flat[i]
                    e.touched += e.flat[max(i - 1, 0):i + 1]
            node.order = None
            self._set_sentences(para, target)
            e.touched.append(para)
        return self.last_change.ids

    @staticmethod
    def _sentence_gaps(sentences: list[Node]) -> list[str]:
        """Gaps for a new sentence sequence: keep each gap, but a sentence that is no longer last
        needs a space after it, and the last one needs none (the paragraph's tail follows)."""
        gaps = [s.tail if s.tail else " " for s in sentences]
        if gaps:
            gaps[-1] = ""
        return gaps

    def _check_sentences(self, sentences: list[Node]) -> None:
        gaps = self._sentence_gaps(sentences)
        text = "".join(s._text + g for s, g in zip(sentences, gaps))
        if [t for t, _ in split_sentences(text)] != [s._text for s in sentences]:
            raise InputRefused("those sentences do not read as separate sentences in that order")

    def _set_sentences(self, para: Node, sentences: list[Node]) -> None:
        for s, gap in zip(sentences, self._sentence_gaps(sentences)):
            if s.parent is not para:
                s.order = None
            s.tail, s.parent = gap, para
        para.children = sentences


def breaks(text: str) -> int:
    """Number of line breaks (\n, \r\n or \r) in `text`."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _is_ancestor(node: Node, other: Node) -> bool:
    p = other.parent
    while p is not None:
        if p is node:
            return True
        p = p.parent
    return False


def _clamp(index: int, n: int) -> int:
    return max(0, min(index, n))
