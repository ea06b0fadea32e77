"""`at()`, `restore()` and `scriba export --at` take revision ids at change boundaries only: a revision in
the middle of a change (a half-applied state the document was never in) is refused with one line that
names the change and its boundaries."""

from __future__ import annotations

import pytest

from app.cli import main
from app.store import Store, StoreError

TEXT = "# Title\n\nOne is here. Two is there.\n\nA second paragraph.\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "scriba.db") as s:
        yield s


def _edit_change(store: Store, doc_id: str) -> list[int]:
    """Commit one change of two revisions; return their ids."""
    doc, rev = store.current(doc_id)
    sentences = [n for n in doc.walk() if str(n.kind) == "sentence"]
    doc.set_text(sentences[0].id, "One was here.")
    doc.set_text(sentences[-1].id, "A changed paragraph.")
    revs = store.commit(doc_id, doc, author="writer", operation="edit", base_revision=rev)
    assert len(revs) == 2
    return [r.id for r in revs]


def test_at_refuses_a_revision_inside_a_change(store):
    doc_id = store.import_document(TEXT).id
    imported = [h.id for h in store.history(doc_id)]
    first, last = _edit_change(store, doc_id)
    change = store.history(doc_id)[-1].change_id
    with pytest.raises(StoreError) as info:
        store.at(doc_id, first)
    assert str(info.value) == (f"revision {first} is in the middle of change {change} (revisions {first}-{last}); "
                               f"use {last} (the end of that change) or {first - 1} (before it)")
    with pytest.raises(StoreError, match=f"use {imported[-1]} \\(the end of that change\\)$"):
        store.at(doc_id, imported[1])  # inside the import: there is no "before it"
    assert store.at(doc_id, last).to_markdown() == store.current(doc_id)[0].to_markdown()
    assert store.at(doc_id, first - 1).to_markdown() == TEXT


def test_restore_refuses_a_revision_inside_a_change(store):
    doc_id = store.import_document(TEXT).id
    first, last = _edit_change(store, doc_id)
    before = store.current(doc_id)
    with pytest.raises(StoreError, match="in the middle of change"):
        store.restore(doc_id, first)
    node = store.history(doc_id)[-1].node_id
    with pytest.raises(StoreError, match="in the middle of change"):
        store.restore(doc_id, first, node)
    assert store.current(doc_id)[1] == before[1]  # nothing written
    assert store.restore(doc_id, first - 1) and store.current(doc_id)[0].to_markdown() == TEXT


def test_a_revision_of_another_document_is_a_boundary_of_this_one(store):
    a = store.import_document(TEXT).id
    b = store.import_document("# Other\n\nText of another document. More of it.\n").id
    inside_b = store.history(b)[1].id
    assert store.at(a, inside_b).to_markdown() == TEXT


def test_a_revision_id_beyond_sqlite_integers_means_the_latest(store):
    doc_id = store.import_document(TEXT).id
    assert store.at(doc_id, 10**30).to_markdown() == TEXT


def test_export_at_inside_a_change_prints_one_line(tmp_path, capsys):
    db = tmp_path / "scriba.db"
    with Store(db) as store:
        doc_id = store.import_document(TEXT).id
        first, last = _edit_change(store, doc_id)
    assert main(["export", doc_id, "--at", str(first), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"revision {first} is in the middle of change" in err and f"use {last}" in err
    capsys.readouterr()
    assert main(["export", doc_id, "--at", str(10**30), "--db", str(db)]) == 1  # beyond the last: refused
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["export", doc_id, "--at", str(last), "--db", str(db)]) == 0


def test_change_end_maps_a_revision_to_the_end_of_its_change(store):
    doc_id = store.import_document(TEXT).id
    imported = sorted(h.id for h in store.history(doc_id))
    first, last = _edit_change(store, doc_id)
    assert store.change_end(doc_id, first) == last and store.change_end(doc_id, last) == last
    assert store.change_end(doc_id, imported[0]) == imported[-1]  # the import is one change
    assert store.change_end(doc_id, 10**6) == 10**6  # not this document's: left as it is
    store.at(doc_id, store.change_end(doc_id, first))  # a boundary: accepted
