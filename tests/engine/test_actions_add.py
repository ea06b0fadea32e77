"""Expand's "add to the section" rule: new text after the section's own text, nothing replaced, the
subsections after it unchanged; and the span the model fills in for it."""

from __future__ import annotations

import pytest

from engine.actions import ACTIONS, ActionRefused, apply_candidate, changed_nodes, make_task
from engine.document import Document, InputRefused

DOC = """# Title

Intro paragraph. It has two sentences.

## Part one

Own text of part one.

### Sub A

Text of sub A.

### Sub B

Text of sub B.

## Part two

### Only a subsection

Its text.

## Empty

## Last

Last text.
"""


def heading(doc: Document, text: str):
    return next(n for n in doc.walk() if str(n.kind) == "heading" and n.text.lstrip("# ") == text)


def added(doc: Document, title: str, text: str) -> tuple[Document, list[str]]:
    return apply_candidate(doc, heading(doc, title).id, "expand", text, with_changes=True, add=True)


def test_the_registry_offers_add_for_expand_only():
    assert ACTIONS["expand"].add is not None and ACTIONS["expand"].add_span is not None
    assert all(a.add is None for name, a in ACTIONS.items() if name != "expand")
    doc = Document.from_markdown(DOC)
    with pytest.raises(ActionRefused, match="no 'add' variant"):
        apply_candidate(doc, heading(doc, "Part one").id, "summarise", "## X", add=True)


def test_add_goes_after_the_sections_own_text_before_its_subsections():
    doc = Document.from_markdown(DOC)
    new, changed = added(doc, "Part one", "Added text.\n\nA second one.")
    md = new.to_markdown()
    assert "Own text of part one.\n\nAdded text.\n\nA second one.\n\n### Sub A\n" in md
    # nothing of the old document is gone or changed: only new nodes (and no old node's text changes)
    old = {n.id: n.text for n in doc.walk()}
    assert all(i in new and new.node(i).text == t for i, t in old.items())
    assert {new.node(i).text for i in changed if i not in old} >= {"Added text.", "A second one."}
    assert md.replace("Added text.\n\nA second one.\n\n", "") == DOC
    # the new paragraphs belong to the section itself, before its first subsection
    part = heading(new, "Part one")
    kinds = [(str(c.kind), c.text) for c in part.children]
    assert kinds[:3] == [("paragraph", "Own text of part one."), ("paragraph", "Added text."),
                         ("paragraph", "A second one.")]


def test_replace_still_replaces_the_whole_body():
    doc = Document.from_markdown(DOC)
    new = apply_candidate(doc, heading(doc, "Part one").id, "expand", "Only this.")
    assert "Sub A" not in new.to_markdown() and "Only this." in new.to_markdown()


@pytest.mark.parametrize("title, expect", [
    ("Part two", "## Part two\n\nNew.\n\n### Only a subsection\n"),  # no own text: right after the heading
    ("Empty", "## Empty\n\nNew.\n\n## Last\n"),
    ("Last", "Last text.\n\nNew.\n"),  # the section ends the file
])
def test_add_in_sections_of_every_shape(title, expect):
    doc = Document.from_markdown(DOC)
    new, _ = added(doc, title, "New.")
    md = new.to_markdown()
    assert expect in md
    assert md.endswith("\n") and not md.endswith("\n\n")
    assert Document.from_markdown(md).to_markdown() == md


def test_add_refuses_a_heading_as_deep_as_the_section():
    doc = Document.from_markdown(DOC)
    with pytest.raises(InputRefused):
        added(doc, "Part one", "## Not deeper")


def test_the_add_span_is_new_text_at_the_insertion_point():
    doc = Document.from_markdown(DOC)
    task = make_task(doc, heading(doc, "Part one").id, "expand", add=True)
    assert task.prefix.endswith("Own text of part one.\n\n")
    assert task.suffix.startswith("\n\n### Sub A\n")
    assert task.old is None and task.level == "section"
    replace = make_task(doc, heading(doc, "Part one").id, "expand")
    assert replace.suffix.lstrip("\n").startswith("## Part two")


def test_changed_nodes_of_an_add_are_only_new_ones_or_the_seam():
    doc = Document.from_markdown(DOC)
    new, changed = added(doc, "Part one", "Added.")
    old_ids = {n.id for n in doc.walk()}
    assert all(i in new for i in changed)
    assert [i for i in changed if i in old_ids and new.node(i).text != doc.node(i).text] == []
    assert changed_nodes(doc, new) == changed
