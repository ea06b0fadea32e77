"""Document tree: exact import/export, structure, records, spans, refusals, edits."""

from __future__ import annotations

import time
import uuid

import pytest

from engine.document import Document, InputRefused, Kind, NodeRecord
from engine.document.keys import key_between, keys_between, repair_keys
from engine.document.nodes import new_id, new_ids

DOC = """# Title

Intro one. Intro two.

## Alpha

Alpha para. Second sentence here.

- list
- items

### Alpha one

Deep.

## Beta

Beta para.
"""


def shape(doc: Document) -> list[tuple]:
    """Structure without ids/keys: (depth, kind, level, own text, tail) in document order."""
    out = []
    for n in doc.walk():
        depth, p = 0, n.parent
        while p is not None:
            depth, p = depth + 1, p.parent
        out.append((depth, n.kind.value, n.level, n.own_text, n.tail))
    return out


def find(doc: Document, text: str, kind: str | None = None):
    return next(n for n in doc.walk() if n.text == text and kind in (None, n.kind))


def assert_consistent(doc: Document) -> None:
    """Export → import gives the same tree, records round-trip, and every span is exact."""
    md = doc.to_markdown()
    assert shape(Document.from_markdown(md)) == shape(doc)
    assert Document.from_records(doc.records()).records() == doc.records()
    for n in doc.walk():
        if n.kind is not Kind.ROOT:
            start, end = doc.span(n.id)
            assert md[start:end] == n.text
        if n.children:
            keys = [c.order for c in n.children]
            assert keys == sorted(keys) and len(set(keys)) == len(keys)


# ---- import / export ---------------------------------------------------------------------------

EDGE_CASES = {
    "empty": "",
    "only newline": "\n",
    "only whitespace": "  \n\t\n \n",
    "no trailing newline": "# T\n\nPara one. Two.",
    "crlf": "# T\r\n\r\nPara one.\r\nStill para. Two.\r\n\r\n- a\r\n- b\r\n",
    "old mac cr": "# T\r\rPara.\r",
    "tabs": "#\tTab heading\n\n\tcode with tab\n\nText\twith tab. Next.\n",
    "unicode": "# Ünïcödé 🎉\n\nΚαλημέρα κόσμε. 日本語の文。 Emoji 👩‍👩‍👧 here.\n",
    "bom": "\ufeff# Title\n\nBody.\n",
    "front matter": "---\ntitle: x\nlist:\n\n  - a\n---\n\n# T\n\nBody.\n",
    "hr at top is not front matter": "---\n\nPara.\n\n---\n",
    "setext": "Title\n=====\n\nSub\n---\n\nText.\n",
    "before first heading": "Preamble. More.\n\n# H\n\nText.\n",
    "deep headings": "###### Six\n\nx.\n\n# One\n\n### Three\n\n## Two\n\ny.\n",
    "code": "```python\nx = 1\n\n\ny = 2\n```\n\n    indented\n    code\n\n~~~\nunclosed\n",
    "quote table html": "> quote\n> more\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<div>\nhi\n</div>\n",
    "refs": "See [x][1].\n\n[1]: http://example.com\n[2]: /y\n\nEnd.\n",
    "lazy": "> quote\nlazy line\n\n- item\ncontinued\n",
    "trailing spaces": "Para with trailing.   \n\nHard break  \nnext line.\n",
    "indented para": "   Indented para. Two.\n\n  Again.\n",
    "many blank lines": "\n\n\nA.\n\n\n\n\nB.\n\n\n",
    "thematic": "A.\n\n***\n\n* * *\n\nB.\n",
    "unicode spaces": "A.\u00a0B.\u2028C.\n\n\u3000\n",
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_round_trip_edge_cases(name):
    text = EDGE_CASES[name]
    doc = Document.from_markdown(text)
    assert doc.to_markdown() == text
    assert_consistent(doc)


def test_structure_nests_by_level():
    doc = Document.from_markdown(DOC)
    top = doc.root.children
    assert [n.kind for n in top] == [Kind.HEADING]
    title = top[0]
    assert [c.kind for c in title.children] == [Kind.PARAGRAPH, Kind.HEADING, Kind.HEADING]
    alpha = title.children[1]
    assert [c.kind for c in alpha.children] == [Kind.PARAGRAPH, Kind.BLOCK, Kind.HEADING]
    assert [s.text for s in alpha.children[0].children] == ["Alpha para.", "Second sentence here."]
    assert alpha.plain == "Alpha" and alpha.level == 2


def test_preamble_and_front_matter_hang_off_root():
    doc = Document.from_markdown("---\na: 1\n---\nIntro.\n\n# H\n")
    kinds = [c.kind for c in doc.root.children]
    assert kinds == [Kind.BLOCK, Kind.PARAGRAPH, Kind.HEADING]
    assert doc.root.children[0].text == "---\na: 1\n---"


def test_setext_and_atx_plain():
    doc = Document.from_markdown("Big  title\n===\n\n## Closed ##\n\nSmall\nsub\n---\n")
    heads = [n for n in doc.walk() if n.kind is Kind.HEADING]
    assert [(h.level, h.plain) for h in heads] == [(1, "Big  title"), (2, "Closed"), (2, "Small sub")]


def test_soft_line_breaks_stay_in_one_paragraph():
    doc = Document.from_markdown("First line\nsecond line. Next\nsentence.\n")
    (para,) = doc.root.children
    assert para.kind is Kind.PARAGRAPH
    assert [s.text for s in para.children] == ["First line\nsecond line.", "Next\nsentence."]


def test_bom_round_trips_and_is_not_content():
    doc = Document.from_bytes("\ufeff# T\n".encode())
    assert doc.to_markdown() == "\ufeff# T\n"
    assert doc.root.children[0].kind is Kind.HEADING


@pytest.mark.parametrize("data,offset", [
    (b"# ok\n\x00rest", 5),
    (b"abc\xff\xfe", 3),
    (b"caf\xc3", 3),
    (b"\x89PNG\r\n\x1a\n\x00\x00", 0),
])
def test_binary_and_invalid_utf8_refused_with_offset(data, offset):
    with pytest.raises(InputRefused) as info:
        Document.from_bytes(data)
    msg = str(info.value)
    assert f"offset {offset}" in msg and "\n" not in msg


def test_str_with_nul_or_surrogate_refused():
    with pytest.raises(InputRefused, match="offset 2"):
        Document.from_markdown("ab\x00")
    with pytest.raises(InputRefused, match="offset 1"):
        Document.from_markdown("a\udcff")


def test_records_round_trip_and_fields():
    doc = Document.from_markdown(DOC)
    recs = doc.records()
    assert all(isinstance(r, NodeRecord) for r in recs)
    assert recs[0].kind == "root" and recs[0].parent_id is None
    assert len({r.id for r in recs}) == len(recs) and all(len(r.id) == 32 for r in recs)
    assert all(r.text == "" for r in recs if r.kind == "paragraph")
    back = Document.from_records(reversed(recs))  # order of records does not matter
    assert back.records() == recs and back.to_markdown() == DOC


def test_from_records_refuses_broken_sets():
    recs = Document.from_markdown(DOC).records()
    with pytest.raises(InputRefused):
        Document.from_records(recs[1:])
    with pytest.raises(InputRefused):
        Document.from_records([recs[0], recs[0]])


# ---- spans -------------------------------------------------------------------------------------

def test_spans_are_exact():
    doc = Document.from_markdown(DOC)
    md = doc.to_markdown()
    s, e = doc.span(find(doc, "Second sentence here.").id)
    assert md[s:e] == "Second sentence here."
    alpha = find(doc, "## Alpha")
    s, e = doc.span(alpha.id)
    assert md[s:e] == "## Alpha"
    s, e = doc.span(alpha.id, "body")
    assert md[s:e] == doc.section_body(alpha.id)
    assert md[s:e] == "Alpha para. Second sentence here.\n\n- list\n- items\n\n### Alpha one\n\nDeep.\n\n"
    s, e = doc.span(find(doc, "## Beta").id, "body")
    assert md[s:e] == "Beta para.\n" and e == len(md)
    para = find(doc, "Intro one. Intro two.")
    assert md[slice(*doc.span(para.id))] == "Intro one. Intro two."
    assert doc.span(doc.root.id) == (0, len(md))
    with pytest.raises(ValueError):
        doc.span(para.id, "body")


def test_span_of_empty_body_and_crlf():
    doc = Document.from_markdown("# A\r\n\r\n## B\r\n\r\nText.\r\n")
    md = doc.to_markdown()
    s, e = doc.span(find(doc, "# A").id, "body")
    assert md[s:e] == "## B\r\n\r\nText.\r\n"
    s, e = doc.span(find(doc, "## B").id)
    assert md[s:e] == "## B"
    empty = Document.from_markdown("## A\n\n## B\n")
    s, e = empty.span(find(empty, "## A").id, "body")
    assert s == e == len("## A\n\n")


# ---- edits -------------------------------------------------------------------------------------

def test_set_text_sentence_keeps_all_other_ids():
    doc = Document.from_markdown(DOC)
    before = {r.id: r for r in doc.records()}
    target = find(doc, "Alpha para.")
    changed = doc.set_text(target.id, "Alpha paragraph, rewritten.")
    assert changed == [target.id]
    after = {r.id: r for r in doc.records()}
    assert after.keys() == before.keys()
    assert [i for i in after if after[i] != before[i]] == [target.id]
    assert "Alpha paragraph, rewritten. Second sentence here." in doc.to_markdown()
    assert_consistent(doc)


def test_set_text_sentence_that_splits_in_two():
    doc = Document.from_markdown(DOC)
    target = find(doc, "Alpha para.")
    doc.set_text(target.id, "One here. Two here.")
    para = target.parent
    assert [s.text for s in para.children] == ["One here.", "Two here.", "Second sentence here."]
    assert para.children[0].id == target.id
    assert len(doc.last_change.created) == 1
    assert_consistent(doc)


def test_set_text_paragraph_resplits_keeping_unchanged_sentences():
    doc = Document.from_markdown(DOC)
    para = find(doc, "Alpha para. Second sentence here.")
    first, second = para.children
    doc.set_text(para.id, "Brand new start. Second sentence here. And a third.\n")
    assert [s.text for s in para.children] == ["Brand new start.", "Second sentence here.", "And a third."]
    assert para.children[1] is second and para.children[0].id == first.id
    assert find(doc, "Brand new start. Second sentence here. And a third.").tail == "\n\n"
    assert_consistent(doc)


def test_set_text_paragraph_into_two_paragraphs():
    doc = Document.from_markdown(DOC)
    para = find(doc, "Intro one. Intro two.")
    doc.set_text(para.id, "Intro one.\n\nIntro two.")
    title = find(doc, "# Title")
    assert [c.text for c in title.children[:2]] == ["Intro one.", "Intro two."]
    assert title.children[0].id == para.id
    assert_consistent(doc)


def test_heading_level_change_restructures():
    doc = Document.from_markdown(DOC)
    beta, alpha = find(doc, "## Beta"), find(doc, "## Alpha")
    doc.set_text(beta.id, "### Beta")
    assert beta.parent is alpha and beta.level == 3
    assert_consistent(doc)
    doc.set_text(beta.id, "# Beta")
    assert beta.parent is doc.root
    assert_consistent(doc)


def test_heading_text_must_stay_a_heading():
    doc = Document.from_markdown(DOC)
    before = doc.records()
    with pytest.raises(InputRefused, match="heading"):
        doc.set_text(find(doc, "## Beta").id, "Just words")
    assert doc.records() == before


def test_set_text_block_and_empty_text_deletes():
    doc = Document.from_markdown(DOC)
    block = find(doc, "- list\n- items")
    doc.set_text(block.id, "- list\n- items\n- more")
    assert block.text == "- list\n- items\n- more"
    sentence = find(doc, "Intro two.", "sentence")
    doc.set_text(sentence.id, "   ")
    assert sentence.id not in doc
    assert "Intro one.\n\n## Alpha" in doc.to_markdown()
    assert_consistent(doc)


def test_edit_that_changes_markdown_meaning_falls_back_to_full_parse():
    doc = Document.from_markdown(DOC)
    para = find(doc, "Alpha para. Second sentence here.")
    doc.set_text(para.id, "```\nopen fence")  # swallows the rest of the document
    assert_consistent(doc)
    assert find(doc, "## Alpha").children[-1].kind is Kind.BLOCK
    assert "## Beta" not in [n.text for n in doc.walk() if n.kind is Kind.HEADING]


def test_replace_section_body():
    doc = Document.from_markdown(DOC)
    alpha = find(doc, "## Alpha")
    keep = find(doc, "Deep.", "paragraph")
    body = doc.section_body(alpha.id)
    assert doc.replace_section_body(alpha.id, body) == []  # a no-op changes nothing
    doc.replace_section_body(alpha.id, "New body text.\n\n### Alpha one\n\nDeep.")
    assert doc.section_body(alpha.id) == "New body text.\n\n### Alpha one\n\nDeep.\n\n"
    assert find(doc, "Deep.", "paragraph") is keep
    assert_consistent(doc)
    with pytest.raises(InputRefused, match="deeper"):
        doc.replace_section_body(alpha.id, "## Not deeper\n")
    doc.replace_section_body(alpha.id, "")
    assert alpha.children == [] and "## Alpha\n\n## Beta" in doc.to_markdown()
    assert_consistent(doc)


def test_replace_last_section_body_keeps_file_ending():
    doc = Document.from_markdown(DOC)
    doc.replace_section_body(find(doc, "## Beta").id, "Other text.")
    assert doc.to_markdown().endswith("## Beta\n\nOther text.\n")


def test_insert_nodes():
    doc = Document.from_markdown(DOC)
    alpha = find(doc, "## Alpha")
    before = {r.id: r for r in doc.records()}
    new = doc.insert(alpha.id, 1, "paragraph", "Inserted between. Two sentences.")
    assert alpha.children[1].id == new
    after = {r.id: r for r in doc.records()}
    created = set(after) - set(before)
    assert {i for i in before if after[i] != before[i]} == set()  # nothing else changed
    assert len(created) == 3  # paragraph + its two sentences
    sid = doc.insert(new, 2, "sentence", "A third one.")
    assert [s.text for s in doc.node(new).children][-1] == "A third one." and doc.node(sid).parent.id == new
    hid = doc.insert(alpha.id, 3, "heading", "### Alpha two")
    assert doc.node(hid).parent is alpha
    tail_id = doc.insert(doc.root.id, 1, "heading", "# Appendix")
    assert doc.to_markdown().endswith("Beta para.\n\n# Appendix\n")
    assert doc.node(tail_id).parent is doc.root
    assert_consistent(doc)


def test_insert_refusals():
    doc = Document.from_markdown(DOC)
    alpha, para = find(doc, "## Alpha"), find(doc, "Intro one. Intro two.")
    with pytest.raises(InputRefused):
        doc.insert(alpha.id, 0, "heading", "## Same level")
    with pytest.raises(InputRefused):
        doc.insert(alpha.id, 0, "paragraph", "# Not a paragraph")
    with pytest.raises(InputRefused):
        doc.insert(alpha.id, 3, "paragraph", "After the subsection.")
    with pytest.raises(InputRefused):
        doc.insert(para.id, 1, "sentence", "two sentences. In one")
    with pytest.raises(InputRefused):
        doc.insert(para.id, 0, "paragraph", "x")


def test_insert_into_empty_document():
    doc = Document.from_markdown("")
    pid = doc.insert(doc.root.id, 0, "paragraph", "Hello world.")
    assert doc.to_markdown() == "Hello world.\n"
    doc.insert(doc.root.id, 0, "heading", "# Top")
    assert doc.to_markdown() == "# Top\n\nHello world.\n"
    assert doc.node(pid).parent.text == "# Top"
    assert_consistent(doc)


def test_delete_nodes():
    doc = Document.from_markdown(DOC)
    doc.delete(find(doc, "Second sentence here.").id)
    assert "Alpha para.\n\n- list" in doc.to_markdown()
    doc.delete(find(doc, "## Beta").id)  # whole section; the file still ends with one newline
    assert doc.to_markdown().endswith("### Alpha one\n\nDeep.\n")
    only = find(doc, "Deep.", "sentence")
    para = only.parent
    doc.delete(only.id)  # last sentence takes its paragraph along
    assert para.id not in doc
    assert_consistent(doc)
    with pytest.raises(InputRefused):
        doc.delete(doc.root.id)


def test_move_nodes():
    doc = Document.from_markdown(DOC)
    beta, alpha, title = find(doc, "## Beta"), find(doc, "## Alpha"), find(doc, "# Title")
    ids = {r.id for r in doc.records()}
    changed = doc.move(beta.id, title.id, 1)  # before Alpha
    assert [c.text for c in title.children] == ["Intro one. Intro two.", "## Beta", "## Alpha"]
    assert {r.id for r in doc.records()} == ids
    assert beta.id in changed
    assert doc.to_markdown().endswith("Deep.\n") and "Beta para.\n\n## Alpha" in doc.to_markdown()
    assert_consistent(doc)
    sentence = find(doc, "Intro two.", "sentence")
    doc.move(sentence.id, find(doc, "Beta para.", "paragraph").id, 0)
    assert find(doc, "Intro two. Beta para.").children[0] is sentence
    assert_consistent(doc)
    with pytest.raises(InputRefused):
        doc.move(alpha.id, find(doc, "### Alpha one").id, 0)
    # this empties the intro paragraph
    doc.move(find(doc, "Intro one.", "sentence").id, find(doc, "Deep.", "paragraph").id, 1)
    assert_consistent(doc)


def test_merge_markdown_keeps_ids_of_unchanged_nodes():
    doc = Document.from_markdown(DOC)
    before = {n.text: n.id for n in doc.walk() if n.kind is not Kind.ROOT}
    edited = DOC.replace("Second sentence here.", "Second sentence, edited externally.")
    edited = edited.replace("## Beta\n", "## Beta\n\nA new paragraph.\n\n")
    changed = doc.merge_markdown(edited)
    assert doc.to_markdown() == edited
    after = {n.text: n.id for n in doc.walk() if n.kind is not Kind.ROOT}
    for text, nid in before.items():
        if text in after:
            assert after[text] == nid
    assert find(doc, "Second sentence, edited externally.").id == before["Second sentence here."]
    assert set(doc.last_change.created) <= set(changed)
    assert_consistent(doc)


def test_merge_refuses_binary():
    doc = Document.from_markdown(DOC)
    with pytest.raises(InputRefused):
        doc.merge_markdown("x\x00")


# ---- order keys --------------------------------------------------------------------------------

def test_key_between_and_bisection():
    a, b = "V", "W"
    mid = key_between(a, b)
    assert a < mid < b and not mid.endswith("0")
    keys = keys_between(None, None, 1000)
    assert keys == sorted(keys) and len(set(keys)) == 1000 and max(map(len, keys)) <= 4
    k = "V"
    for _ in range(200):  # always room below
        k2 = key_between(None, k)
        assert k2 < k
        k = k2
    with pytest.raises(ValueError):
        key_between("b", "a")


def test_repair_keys_rekeys_only_moved():
    keys = keys_between(None, None, 10)
    moved = [keys[9]] + keys[:9]  # last moved to the front
    fixed = repair_keys(moved)
    assert fixed == sorted(fixed) and fixed[1:] == keys[:9]
    assert repair_keys([None, None]) == sorted(repair_keys([None, None]))


def test_inserting_a_node_changes_only_its_record():
    doc = Document.from_markdown(DOC)
    before = {r.id: r for r in doc.records()}
    sid = doc.insert(find(doc, "Alpha para. Second sentence here.").id, 1, "sentence", "Middle one.")
    after = {r.id: r for r in doc.records()}
    assert set(after) - set(before) == {sid}
    assert [i for i in before if before[i] != after[i]] == []


# ---- speed -------------------------------------------------------------------------------------

def prose_document(size: int) -> str:
    """Deterministic long-form Markdown: sections, paragraphs of varied sentences, some lists."""
    import random

    rng = random.Random(7)
    words = ("the model reads every byte of a document and learns where its own chunks begin while "
             "writers move between outline paragraph and sentence e.g. Dr. Smith in the U.S. said 3.5 "
             "percent").split()
    parts, n = [], 0
    while n < size:
        if n % 7 == 0:
            parts.append(f"## Section {len(parts)}\n\n")
        sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 25))).capitalize() + "."
                     for _ in range(rng.randint(2, 8))]
        parts.append(" ".join(sentences) + "\n\n")
        if n % 11 == 0:
            parts.append("- a list item\n- another item\n\n")
        n += len(parts[-1])
    return "".join(parts)


def test_import_one_megabyte_is_fast():
    text = prose_document(1_000_000)
    start = time.perf_counter()
    doc = Document.from_markdown(text)
    elapsed = time.perf_counter() - start
    assert doc.to_markdown() == text
    assert elapsed < 1.5, f"importing {len(text)} chars took {elapsed:.2f} s"


def test_an_imported_tree_has_random_ids_ascending_in_document_order():
    """The store's indexes on node ids take an import's rows in order (app.store); the ids stay random."""
    text = "# Title\n\nOne. Two.\n\n## Part\n\nThree.\n\n- a list\n"
    ids = [n.id for n in Document.from_markdown(text).walk()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 9
    other = [n.id for n in Document.from_markdown(text).walk()]
    assert not set(ids) & set(other) and len({i[:8] for i in ids + other}) == 18


def test_ids_handed_out_in_bulk_are_version_4_uuids():
    """`new_ids` (an import's ids, from one read of the random source) makes what `new_id` makes."""
    ids = new_ids(2000)
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(uuid.UUID(i).hex == i and uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122
               for i in ids + [new_id()])


def test_an_imported_tree_keys_its_siblings_as_repair_keys_would():
    """The import's keys for new siblings come from a cache by count (`_fresh_keys`): the same keys."""
    doc = Document.from_markdown("# T\n\n" + "".join(f"P{i}. Two{i}. Three{i}.\n\n" for i in range(70)))
    for node in doc.walk():
        assert [c.order for c in node.children] == repair_keys([None] * len(node.children))


def test_typing_in_one_sentence_does_not_walk_the_whole_tree(monkeypatch):
    """The writer's edit of a sentence changes its paragraph alone: on a big document it must not cost a
    pass over every node (Document._replace_in_place; the general path walks the tree several times)."""
    doc = Document.from_markdown("".join(f"## Part {i}\n\nFirst of {i}. Second of {i}.\n\n" for i in range(300)))
    sentence = [n for n in doc.walk() if n.kind is Kind.SENTENCE][301]
    walks = []
    real_walk = Document.walk
    monkeypatch.setattr(Document, "walk", lambda self: walks.append(1) or real_walk(self))
    changed = doc.set_text(sentence.id, "Second of 150, typed anew.")
    assert not walks and changed == [sentence.id]
    assert "Second of 150, typed anew." in doc.to_markdown() and doc.node(sentence.id).parent.parent.plain == "Part 150"
