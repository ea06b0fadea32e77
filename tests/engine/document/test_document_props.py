"""Property tests: exact round trip of arbitrary text, and random edits at every level keep the tree
equal to what re-importing its Markdown gives (same kinds, levels, texts, tails and nesting), with
exact spans, sorted order keys, and `last_change` naming exactly the records that changed."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_document import assert_consistent

from engine.document import Document, InputRefused, Kind

SCALE = float(os.environ.get("SCRIBA_PROPERTY_SCALE", "1"))  # e.g. 20 for a long local hunt
MARKDOWNY = list("#*-_>`[]():.!?\n\r \t=|<~1aAzZ\"'.,;") + ["\u00a0", "é", "日", "🎉", "e.g.", "Dr.", "    ",
                                                                "```", "---", "\r\n", "\n\n", "- ", "1. "]


@settings(max_examples=int(300 * SCALE), deadline=None)
@given(st.lists(st.sampled_from(MARKDOWNY) | st.text(max_size=3), max_size=60).map("".join))
def test_any_text_round_trips(text):
    if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        with pytest.raises(InputRefused):
            Document.from_markdown(text)
        return
    doc = Document.from_markdown(text)
    assert doc.to_markdown() == text
    assert Document.from_records(doc.records()).to_markdown() == text
    assert_consistent(doc)


# ---- generated documents and edits ---------------------------------------------------------------

WORDS = ["alpha", "beta", "gamma", "the", "model", "Dr.", "Smith", "e.g.", "U.S.", "3.5", "writes",
         "“quoted”", "café", "naïve", "i.e.", "approx.", "`code.x`", "[a link](http://x.y/z.html)"]
sentence = st.builds(
    lambda first, rest, end: " ".join([first.capitalize(), *rest]) + end,
    st.sampled_from(["alpha", "beta", "gamma", "model", "writer", "sentence"]),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8),
    st.sampled_from([".", "!", "?", "...", ".”"]),
)
paragraph = st.lists(sentence, min_size=1, max_size=4).flatmap(
    lambda ss: st.sampled_from([" ", "\n", "  "]).map(lambda sep: sep.join(ss)))
heading = st.builds(lambda lvl, title: "#" * lvl + " " + title, st.integers(1, 4),
                    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join))
block = st.sampled_from(["- one\n- two", "```\ncode. Here.\n\n```", "> quoted. Text.", "    indented code",
                         "| a | b |\n|---|---|\n| 1 | 2 |", "***", "[ref]: http://example.com", "<div>\nx\n</div>"])
unit = st.one_of(heading, paragraph, paragraph, block)
document = st.builds(
    lambda units, seps, ending, crlf: _crlf("".join(u + s for u, s in zip(units, seps))[:-1] + ending, crlf),
    st.lists(unit, min_size=0, max_size=10),
    st.lists(st.sampled_from(["\n\n", "\n\n\n", "\n\n"]), min_size=10, max_size=10),
    st.sampled_from(["", "\n", "\n\n"]),
    st.booleans(),
)


def _crlf(text: str, on: bool) -> str:
    return text.replace("\n", "\r\n") if on else text


def _pick(doc: Document, kinds, data):
    nodes = [n for n in doc.walk() if n.kind in kinds]
    return data.draw(st.sampled_from(nodes)) if nodes else None


def _edit(doc: Document, data) -> bool:
    """One random edit; False if there was nothing to edit."""
    op = data.draw(st.sampled_from(["sentence", "paragraph", "heading", "block", "body", "insert",
                                    "delete", "move", "merge"]))
    if op == "sentence" and (n := _pick(doc, [Kind.SENTENCE], data)):
        doc.set_text(n.id, data.draw(sentence | st.sampled_from(["", "Two. Sentences here.", "no end"])))
    elif op == "paragraph" and (n := _pick(doc, [Kind.PARAGRAPH], data)):
        doc.set_text(n.id, data.draw(paragraph | st.sampled_from(["One.\n\nTwo.", "# heading now", ""])))
    elif op == "heading" and (n := _pick(doc, [Kind.HEADING], data)):
        doc.set_text(n.id, data.draw(heading | st.just("plain words")))
    elif op == "block" and (n := _pick(doc, [Kind.BLOCK], data)):
        doc.set_text(n.id, data.draw(block | paragraph))
    elif op == "body" and (n := _pick(doc, [Kind.HEADING], data)):
        doc.replace_section_body(n.id, data.draw(document))
    elif op == "insert":
        return _insert(doc, data)
    elif op == "delete" and (n := _pick(doc, [Kind.HEADING, Kind.PARAGRAPH, Kind.SENTENCE, Kind.BLOCK], data)):
        doc.delete(n.id)
    elif op == "move" and (n := _pick(doc, [Kind.HEADING, Kind.PARAGRAPH, Kind.SENTENCE, Kind.BLOCK], data)):
        kinds = [Kind.PARAGRAPH] if n.kind is Kind.SENTENCE else [Kind.ROOT, Kind.HEADING]
        parent = _pick(doc, kinds, data)
        doc.move(n.id, parent.id, data.draw(st.integers(0, len(parent.children) + 1)))
    elif op == "merge":
        doc.merge_markdown(data.draw(st.sampled_from([doc.to_markdown(),
                                                      doc.to_markdown() + "\n\nAppended. Text.\n",
                                                      data.draw(document)])))
    else:
        return False
    return True


def _insert(doc: Document, data) -> bool:
    kind = data.draw(st.sampled_from(["sentence", "paragraph", "heading", "block"]))
    parent = _pick(doc, [Kind.PARAGRAPH] if kind == "sentence" else [Kind.ROOT, Kind.HEADING], data)
    if parent is None:
        return False
    text = data.draw({"sentence": sentence, "paragraph": paragraph, "heading": heading, "block": block}[kind])
    new_id = doc.insert(parent.id, data.draw(st.integers(0, len(parent.children))), kind, text)
    assert doc.node(new_id).kind.value == kind
    return True


def _state(doc: Document) -> dict:
    return {r.id: r for r in doc.records()}


@settings(max_examples=int(150 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document, st.data())
def test_random_edits_keep_tree_and_text_consistent(text, data):
    doc = Document.from_markdown(text)
    assert doc.to_markdown() == text
    for _ in range(data.draw(st.integers(1, 6))):
        before = _state(doc)
        try:
            if not _edit(doc, data):
                continue
        except InputRefused:
            assert _state(doc) == before  # a refusal changes nothing
            continue
        after = _state(doc)
        change = doc.last_change
        assert set(change.created) == after.keys() - before.keys()
        assert set(change.deleted) == before.keys() - after.keys()
        assert set(change.changed) == {i for i in after.keys() & before.keys() if after[i] != before[i]}
        assert_consistent(doc)


@settings(max_examples=int(100 * SCALE), deadline=None)
@given(document, st.data())
def test_external_edit_of_one_sentence_keeps_other_ids(text, data):
    doc = Document.from_markdown(text)
    sentences = [n for n in doc.walk() if n.kind is Kind.SENTENCE]
    if not sentences:
        return
    target = data.draw(st.sampled_from(sentences))
    siblings = target.parent.children
    at = siblings.index(target)
    neighbours = {s.id for s in siblings[max(at - 1, 0):at + 2]}  # segmentation may join these
    replacement = "Completely different words here now."
    start, end = doc.span(target.id)
    md = doc.to_markdown()
    before = {n.id for n in doc.walk()}
    doc.merge_markdown(md[:start] + replacement + md[end:])
    assert before - {n.id for n in doc.walk()} <= neighbours
    alone = [n for n in doc.walk() if n.kind is Kind.SENTENCE and n.text == replacement]
    if alone:
        assert alone[0].id == target.id
    assert_consistent(doc)


@settings(max_examples=int(300 * SCALE), deadline=None)
@given(document, document | st.lists(st.sampled_from(MARKDOWNY) | st.text(max_size=3), max_size=40).map("".join))
def test_every_merge_markdown_reads_back(old, new):
    """An external edit (the whole new text) leaves the tree equal to the parse of its own Markdown."""
    if "\x00" in new or any(0xD800 <= ord(c) <= 0xDFFF for c in new):
        return  # refused text: test_any_text_round_trips
    doc = Document.from_markdown(old)
    doc.merge_markdown(new)
    assert doc.to_markdown() == new
    assert_consistent(doc)


@settings(max_examples=int(150 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document, st.data())
def test_an_edit_in_place_gives_what_the_general_path_gives(text, data):
    """set_text's path for an edit that keeps the tree's shape (Document._replace_in_place) ends in the
    same tree as the general one (`_edit`: re-nest and re-read everything): ids, order keys, last_change."""
    fast = Document.from_markdown(text)
    general = Document.from_records(fast.records())
    node = _pick(fast, [Kind.SENTENCE, Kind.PARAGRAPH, Kind.HEADING, Kind.BLOCK], data)
    if node is None:
        return
    new = data.draw({Kind.SENTENCE: sentence, Kind.PARAGRAPH: paragraph, Kind.HEADING: heading,
                     Kind.BLOCK: block | paragraph}[node.kind])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(Document, "_replace_in_place", lambda self, node, unit: False)
        try:
            general.set_text(node.id, new)
        except InputRefused:
            return
    fast.set_text(node.id, new)
    assert _named(fast) == _named(general) and fast.to_markdown() == general.to_markdown()
    assert_consistent(fast)


def _named(doc: Document) -> tuple[list, list]:
    """The records and last_change, the ids of nodes the edit created named by their order (they are random)."""
    name = {nid: f"new {i}" for i, nid in enumerate(doc.last_change.created)}
    records = [(name.get(r.id, r.id), name.get(r.parent_id, r.parent_id), r.kind, r.order, r.level, r.text, r.tail)
               for r in doc.records()]
    change = doc.last_change
    return records, [[name.get(i, i) for i in ids] for ids in (change.created, change.changed, change.deleted)]
