"""Whatever the store puts together from two states (a node restored from an older revision, two
writers' changes merged from one base revision) is a tree that reads back from its own Markdown:
`Document.from_markdown(doc.to_markdown())` has the same kinds, levels, texts, tails and nesting."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.store import ConflictError, Store, StoreError
from engine.document import Document, InputRefused, Kind


def shape(doc: Document) -> list[tuple]:
    """The tree without ids and order keys: (depth, kind, level, own text, tail) in document order."""
    out = []
    for n in doc.walk():
        depth, p = 0, n.parent
        while p is not None:
            depth, p = depth + 1, p.parent
        out.append((depth, n.kind.value, n.level, n.own_text, n.tail))
    return out


def assert_reads_back(doc: Document) -> None:
    assert shape(Document.from_markdown(doc.to_markdown())) == shape(doc)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "scriba.db") as s:
        yield s


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """One database for all examples of a property test: each example imports its own document."""
    with Store(tmp_path_factory.mktemp("props") / "scriba.db") as s:
        yield s


def _sentences(doc: Document) -> list:
    return [n for n in doc.walk() if n.kind is Kind.SENTENCE]


def test_restoring_a_deleted_last_sentence_keeps_it_a_sentence(store):
    doc_id = store.import_document("# T\n\nOne is here. Two is there. Three is last.\n").id
    doc, rev0 = store.current(doc_id)
    last = _sentences(doc)[-1]
    doc.delete(last.id)
    store.commit(doc_id, doc, author="writer", operation="delete", base_revision=rev0)
    store.restore(doc_id, rev0, last.id)
    now = store.current(doc_id)[0]
    assert now.to_markdown() == "# T\n\nOne is here. Two is there. Three is last.\n"
    assert [s.id for s in _sentences(now)][-1] == last.id
    assert_reads_back(now)


def test_restoring_a_deleted_last_paragraph_keeps_it_apart(store):
    doc_id = store.import_document("# T\n\nFirst paragraph.\n\nSecond paragraph.\n").id
    doc, rev0 = store.current(doc_id)
    second = [n for n in doc.walk() if n.kind is Kind.PARAGRAPH][-1]
    doc.delete(second.id)
    store.commit(doc_id, doc, author="writer", operation="delete", base_revision=rev0)
    store.restore(doc_id, rev0, second.id)
    now = store.current(doc_id)[0]
    assert now.to_markdown() == "# T\n\nFirst paragraph.\n\nSecond paragraph.\n"
    assert_reads_back(now)


def test_a_merge_nests_a_heading_as_its_markdown_reads(store):
    """One writer makes the first H1 an H2 and deletes the second; the other inserts an H1 before both. Merged,
    the H2 now follows an H1, so it belongs under it (found by the property test below)."""
    doc_id = store.import_document("# alpha\n\n# beta\n").id
    first, base = store.current(doc_id)
    second = Document.from_records(first.records())
    a, b = [n for n in first.walk() if n.kind is Kind.HEADING]
    first.set_text(a.id, "## alpha")
    first.delete(b.id)
    second.insert(second.root.id, 0, "heading", "# gamma")
    store.commit(doc_id, first, author="writer", operation="edit", base_revision=base)
    store.commit(doc_id, second, author="writer", operation="edit", base_revision=base)
    now = store.current(doc_id)[0]
    assert now.to_markdown() == "# gamma\n\n## alpha\n"
    assert now.node(a.id).parent.text == "# gamma"
    assert_reads_back(now)


# ---- property tests --------------------------------------------------------------------------------

WORDS = ["alpha", "beta", "the", "model", "Dr.", "Smith", "e.g.", "3.5", "writes", "`code.x`", "[a](b.c)"]
sentence = st.builds(lambda first, rest, end: " ".join([first, *rest]) + end,
                     st.sampled_from(["Alpha", "Beta", "Gamma", "Model", "Writer"]),
                     st.lists(st.sampled_from(WORDS), min_size=1, max_size=5), st.sampled_from([".", "!", "?"]))
paragraph = st.lists(sentence, min_size=1, max_size=4).map(" ".join)
heading = st.builds(lambda level, title: "#" * level + " " + title, st.integers(1, 3), st.sampled_from(WORDS))
two_paragraphs = st.builds(lambda a, b: f"{a}\n\n{b}", paragraph, paragraph)
block = st.sampled_from(["- one\n- two", "```\ncode. Here.\n```", "> quoted. Text.", "***"])
document = st.lists(st.one_of(heading, paragraph, paragraph, block), min_size=1, max_size=7).map(
    lambda units: "\n\n".join(units) + "\n")


def _edit(doc: Document, data) -> None:
    """One random edit of the caller's copy (refusals leave it as it was)."""
    nodes = [n for n in doc.walk() if n.kind is not Kind.ROOT]
    if not nodes:
        return
    node = data.draw(st.sampled_from(nodes))
    op = data.draw(st.sampled_from(["delete", "delete", "text", "insert", "move", "unit"]))
    try:
        if op == "delete":
            doc.delete(node.id)
        elif op == "text":
            new = {Kind.SENTENCE: sentence, Kind.PARAGRAPH: paragraph | two_paragraphs,
                   Kind.HEADING: heading}.get(node.kind, block)
            doc.set_text(node.id, data.draw(new))
        elif op == "insert" and node.kind is Kind.PARAGRAPH:
            doc.insert(node.id, data.draw(st.integers(0, len(node.children))), "sentence", data.draw(sentence))
        elif op == "unit" and node.kind in (Kind.HEADING, Kind.PARAGRAPH, Kind.BLOCK):
            kind = data.draw(st.sampled_from(["paragraph", "heading", "block"]))
            text = data.draw({"paragraph": paragraph, "heading": heading, "block": block}[kind])
            parent = node.parent
            doc.insert(parent.id, data.draw(st.integers(0, len(parent.children))), kind, text)
        elif op == "move" and node.kind is Kind.SENTENCE:  # (a sentence has a paragraph: one to pick)
            para = data.draw(st.sampled_from([n for n in doc.walk() if n.kind is Kind.PARAGRAPH]))
            doc.move(node.id, para.id, data.draw(st.integers(0, len(para.children))))
    except InputRefused:
        pass


def _commit(store: Store, doc_id: str, doc: Document, base: int) -> None:
    try:
        store.commit(doc_id, doc, author="writer", operation="edit", base_revision=base)
    except ConflictError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=document, data=st.data())
def test_every_node_restore_reads_back(shared_store, text, data):
    store = shared_store
    doc_id = store.import_document(text).id
    boundaries = [store.current(doc_id)[1]]
    for _ in range(data.draw(st.integers(1, 4))):
        doc, rev = store.current(doc_id)
        _edit(doc, data)
        _commit(store, doc_id, doc, rev)
        boundaries.append(store.current(doc_id)[1])
    when = data.draw(st.sampled_from(boundaries))
    then = store.at(doc_id, when)
    nodes = [n for n in then.walk() if n.kind is not Kind.ROOT]
    if not nodes:
        return
    node = data.draw(st.sampled_from(nodes))
    try:
        store.restore(doc_id, when, node.id)
    except StoreError as exc:
        assert "no longer exists" in str(exc) or "cannot restore" in str(exc)
        return
    assert_reads_back(store.current(doc_id)[0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=document, data=st.data())
def test_every_merge_of_two_writers_reads_back(shared_store, text, data):
    store = shared_store
    doc_id = store.import_document(text).id
    first, base = store.current(doc_id)
    second = Document.from_records(first.records())
    for doc in (first, second):
        for _ in range(data.draw(st.integers(1, 3))):
            _edit(doc, data)
    _commit(store, doc_id, first, base)
    _commit(store, doc_id, second, base)  # merged with the first writer's change, or a conflict
    assert_reads_back(store.current(doc_id)[0])

