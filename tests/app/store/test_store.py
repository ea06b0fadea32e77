"""The revision store's API: import, commit (insert / delete / move / edit), history, at, restore,
optimistic concurrency, lookup, append-only triggers, pragmas, default path."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.store import ConflictError, DocumentNotFound, Store, StoreError, default_db_path
from engine.document import Document

TEXT = """# Field notes

The river was high this spring. We walked the east bank every morning.

## Birds

Herons nested in the alders. Two pairs, maybe three.

Kingfishers came later.

## Plants

Nothing flowered before May.
"""


def leaves(doc: Document) -> list:
    """Records of nodes without children that hold text, in document order."""
    records = doc.records()
    parents = {r.parent_id for r in records}
    return [r for r in records if r.id not in parents and r.text.strip()]


def edited(doc: Document, changes: dict[str, str]) -> Document:
    """A new Document with the text of some records replaced (by id)."""
    return Document.from_records([dataclasses.replace(r, text=changes[r.id]) if r.id in changes else r
                                  for r in doc.records()])


def without(doc: Document, node_id: str) -> Document:
    return Document.from_records([r for r in doc.records() if r.id != node_id])


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "scriba.db")
    yield s
    s.close()


@pytest.fixture
def doc_id(store, tmp_path):
    return store.import_document(TEXT, path=str(tmp_path / "notes.md")).id


def test_import_round_trips_and_records_every_node(store, doc_id, tmp_path):
    doc, rev = store.current(doc_id)
    assert doc.to_markdown() == TEXT
    n = len(doc.records())
    history = store.history(doc_id)
    assert len(history) == n and rev == history[-1].id
    assert {(h.author, h.operation, h.effect) for h in history} == {("import", "import", "insert")}
    assert len({h.change_id for h in history}) == 1
    info = store.find_document(doc_id)
    assert info.title == "Field notes" and info.path == str((tmp_path / "notes.md").resolve())
    assert info.revision == rev and info.created_at.tzinfo is UTC
    assert [d.id for d in store.documents()] == [doc_id]


def test_commit_one_change_many_revisions_with_who_what_when(store, doc_id):
    doc, rev = store.current(doc_id)
    a, b = leaves(doc)[1], leaves(doc)[2]
    new = edited(doc, {a.id: "The river ran low.", b.id: "We walked the west bank."})
    revs = store.commit(doc_id, new, author="model", operation="rewrite", level="paragraph",
                        instruction="make it drier", model="hnet-small", params={"temperature": 0.8, "seed": 3},
                        candidates=["x", "y", "z"], chosen=1, base_revision=rev)
    assert len(revs) == 2 and len({r.change_id for r in revs}) == 1
    assert all(r.id > rev for r in revs)
    assert store.current(doc_id)[0].to_markdown() == new.to_markdown()
    hist = store.history(doc_id, a.id)
    assert [(h.author, h.operation, h.effect) for h in hist] == [("import", "import", "insert"),
                                                                 ("model", "rewrite", "edit")]
    last = hist[-1]
    assert last.text == "The river ran low." and last.parent_revision_id == hist[0].id
    assert (last.level, last.instruction, last.model, last.chosen) == ("paragraph", "make it drier", "hnet-small", 1)
    assert last.params == {"temperature": 0.8, "seed": 3} and last.candidates == ["x", "y", "z"]
    assert last.created_at.tzinfo is UTC and last.base_revision == rev
    assert store.history(doc_id, a.id[:10]) == hist  # a unique prefix works too
    assert last.to_json()["created_at"].endswith("+00:00")


def test_empty_diff_writes_nothing(store, doc_id):
    doc, rev = store.current(doc_id)
    assert store.commit(doc_id, doc, author="writer", operation="edit") == []
    assert store.commit(doc_id, doc, author="writer", operation="edit", base_revision=rev) == []
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("SELECT count(*) FROM changes").fetchone()[0] == 1
    assert store.current(doc_id)[1] == rev


def test_insert_delete_move_are_classified(store, doc_id):
    doc, _ = store.current(doc_id)
    records = doc.records()
    victim = leaves(doc)[-1]
    new_leaf = dataclasses.replace(victim, id="f" * 32, text="A late frost.")
    by_parent: dict = {}
    for r in records:
        by_parent.setdefault(r.parent_id, []).append(r)
    kids = next(sorted(k, key=lambda r: r.order) for p, k in by_parent.items() if p and len(k) >= 2)
    first, second = kids[0], kids[1]
    swapped = {first.id: second.order, second.id: first.order}
    new_records = [dataclasses.replace(r, order=swapped[r.id]) if r.id in swapped else r
                   for r in records if r.id != victim.id] + [new_leaf]
    revs = store.commit(doc_id, Document.from_records(new_records), author="writer", operation="edit")
    effects = {r.node_id: r.effect for r in revs}
    assert effects == {victim.id: "delete", new_leaf.id: "insert", first.id: "move", second.id: "move"}
    deleted = next(r for r in revs if r.node_id == victim.id)
    assert deleted.deleted and deleted.text == victim.text
    now = {r.id: r for r in store.current(doc_id)[0].records()}
    assert victim.id not in now and now[new_leaf.id].text == "A late frost."
    assert now[first.id].order == second.order


def test_commit_returns_its_revisions_as_they_are_stored(store, doc_id):
    doc, rev = store.current(doc_id)
    first, victim = leaves(doc)[0], leaves(doc)[-1]
    new_leaf = dataclasses.replace(victim, id="e" * 32, text="A late frost.", order=victim.order + "V")
    changed = Document.from_records([dataclasses.replace(r, text="The river ran low.") if r.id == first.id else r
                                     for r in doc.records() if r.id != victim.id] + [new_leaf])
    revs = store.commit(doc_id, changed, author="writer", operation="edit", params={"why": "test"},
                        base_revision=rev)
    assert [(r.node_id, r.effect) for r in revs] == [(first.id, "edit"), (new_leaf.id, "insert"),
                                                     (victim.id, "delete")]  # document order, deletes last
    stored = [h for h in store.history(doc_id) if h.id > rev]
    assert revs == stored and [r.id for r in revs] == list(range(rev + 1, rev + 4))


def test_import_current_is_the_state_current_reads_back(store, doc_id, tmp_path):
    path = str(tmp_path / "other.md")
    info, doc, rev = store.import_current(TEXT, path=path)  # a new document: the tree it parsed and stored
    back, back_rev = store.current(info.id)
    assert info.id != doc_id and rev == back_rev == info.revision
    assert doc.records() == back.records() and doc.to_markdown() == TEXT
    changed = TEXT.replace("Kingfishers came later.", "Kingfishers came in June.")
    again, merged, merged_rev = store.import_current(changed, path=path)  # a re-import: merged, read back
    assert again.id == info.id and merged_rev > rev and merged.to_markdown() == changed
    assert merged.records() == store.current(info.id)[0].records()
    parsed = Document.from_markdown(TEXT)  # the caller's tree: stored as it is, ids and all
    info3, same, _ = store.import_current(TEXT, doc=parsed)
    assert same is parsed and store.current(info3.id)[0].records() == parsed.records()
    with pytest.raises(ValueError):
        store.import_current(changed, doc=parsed)


def test_import_current_notes_the_file_hash_in_the_import_and_takes_the_records_given(store, tmp_path):
    parsed = Document.from_markdown(TEXT)
    records = parsed.records()
    info, doc, rev = store.import_current(TEXT, path=str(tmp_path / "n.md"), doc=parsed, records=records,
                                          file_hash="abc123")
    assert doc is parsed and store.current(info.id)[0].records() == records
    assert store.file_hash(info.id) == "abc123" and store.file_revision(info.id) == rev
    assert len(store.changes(info.id)) == 1  # the hash is session state, not a change


def test_at_rebuilds_every_earlier_state(store, doc_id):
    doc, rev0 = store.current(doc_id)
    states = {rev0: doc.to_markdown()}
    target = leaves(doc)[0].id
    for i in range(4):
        doc, rev = store.current(doc_id)
        doc = edited(doc, {target: f"Draft {i} of the first sentence."})
        if i == 2:
            doc = without(doc, leaves(doc)[-1].id)
        revs = store.commit(doc_id, doc, author="writer", operation="edit", base_revision=rev)
        states[revs[-1].id] = doc.to_markdown()
    for r, text in states.items():
        assert store.at(doc_id, r).to_markdown() == text
    assert store.at(doc_id, 10**9).to_markdown() == states[max(states)]
    with pytest.raises(StoreError, match="did not exist"):
        store.at(doc_id, 0)


def test_restore_whole_document(store, doc_id):
    doc, rev0 = store.current(doc_id)
    ls = leaves(doc)
    doc = without(edited(doc, {ls[1].id: "Changed."}), ls[-1].id)
    store.commit(doc_id, doc, author="writer", operation="edit")
    revs = store.restore(doc_id, rev0)
    assert {r.operation for r in revs} == {"restore"} and len({r.change_id for r in revs}) == 1
    assert {r.node_id: r.effect for r in revs} == {ls[1].id: "edit", ls[-1].id: "insert"}
    restored, rev = store.current(doc_id)
    assert restored.to_markdown() == TEXT and rev == revs[-1].id
    assert {r.id for r in restored.records()} == {r.id for r in store.at(doc_id, rev0).records()}
    assert store.restore(doc_id, rev0) == []  # already there


def test_restore_one_node_keeps_later_edits_elsewhere(store, doc_id):
    doc, rev0 = store.current(doc_id)
    ls = leaves(doc)
    store.commit(doc_id, edited(doc, {ls[1].id: "One.", ls[2].id: "Two."}), author="writer", operation="edit")
    revs = store.restore(doc_id, rev0, ls[1].id)
    assert [(r.node_id, r.operation, r.text) for r in revs] == [(ls[1].id, "restore", ls[1].text)]
    assert revs[0].params == {"from_revision": rev0, "node": ls[1].id}
    now = {r.id: r.text for r in store.current(doc_id)[0].records()}
    assert now[ls[1].id] == ls[1].text and now[ls[2].id] == "Two."


def test_restore_brings_back_a_deleted_node(store, doc_id):
    doc, rev0 = store.current(doc_id)
    gone = leaves(doc)[-1]
    store.commit(doc_id, without(doc, gone.id), author="writer", operation="delete")
    revs = store.restore(doc_id, rev0, gone.id)
    assert [(r.effect, r.deleted) for r in revs] == [("insert", False)]
    assert store.current(doc_id)[0].to_markdown() == TEXT
    assert [h.effect for h in store.history(doc_id, gone.id)] == ["insert", "delete", "insert"]


def test_stale_base_revision_conflicts_on_the_same_node(store, doc_id):
    doc, base = store.current(doc_id)
    node = leaves(doc)[1].id
    store.commit(doc_id, edited(doc, {node: "First writer."}), author="writer", operation="edit", base_revision=base)
    with pytest.raises(ConflictError, match="changed after revision"):
        store.commit(doc_id, edited(doc, {node: "Second writer."}), author="model", operation="rewrite",
                     base_revision=base)
    assert isinstance(ConflictError("x"), StoreError)
    assert {r.id: r.text for r in store.current(doc_id)[0].records()}[node] == "First writer."


def test_stale_base_revision_merges_changes_to_other_nodes(store, doc_id):
    doc, base = store.current(doc_id)
    a, b = leaves(doc)[1].id, leaves(doc)[-1].id
    store.commit(doc_id, edited(doc, {a: "Edit A."}), author="writer", operation="edit", base_revision=base)
    revs = store.commit(doc_id, edited(doc, {b: "Edit B."}), author="writer", operation="edit", base_revision=base)
    assert [r.node_id for r in revs] == [b]
    now = {r.id: r.text for r in store.current(doc_id)[0].records()}
    assert now[a] == "Edit A." and now[b] == "Edit B."  # neither write is lost


def test_merge_that_would_orphan_a_node_conflicts(store, doc_id):
    """Writer 1 adds a sentence to a paragraph; writer 2, from the older state, deletes that paragraph."""
    doc, base = store.current(doc_id)
    root = next(r for r in doc.records() if r.parent_id is None)
    leaf = next((r for r in leaves(doc) if r.parent_id != root.id), None)
    if leaf is None:
        pytest.skip("this Document keeps no nodes below the top level")
    child = dataclasses.replace(leaf, id="e" * 32, order=leaf.order + "V", text="Child.")
    store.commit(doc_id, Document.from_records(doc.records() + [child]), author="writer", operation="insert",
                 base_revision=base)
    subtree = {leaf.parent_id}
    for r in doc.records():
        if r.parent_id in subtree:
            subtree.add(r.id)
    pruned = Document.from_records([r for r in doc.records() if r.id not in subtree])
    with pytest.raises(ConflictError, match="no parent"):
        store.commit(doc_id, pruned, author="writer", operation="delete", base_revision=base)


def test_find_document_by_id_prefix_and_path(store, doc_id, tmp_path, monkeypatch):
    path = tmp_path / "notes.md"
    assert store.find_document(doc_id).id == doc_id
    assert store.find_document(doc_id[:6]).id == doc_id
    assert store.find_document(str(path)).id == doc_id
    monkeypatch.chdir(tmp_path)
    assert store.find_document("notes.md").id == doc_id
    assert store.find_document("./sub/../notes.md").id == doc_id
    with pytest.raises(DocumentNotFound):
        store.find_document("other.md")
    with pytest.raises(StoreError):
        store.current("nope")


def test_reimport_same_path(store, doc_id, tmp_path):
    path = str(tmp_path / "notes.md")
    _, rev = store.current(doc_id)
    again = store.import_document(TEXT, path=path)
    assert again.id == doc_id and again.revision == rev
    changed = TEXT.replace("Kingfishers came later.", "Kingfishers came in June.")
    info = store.import_document(changed, path=path)
    assert info.id == doc_id and info.revision > rev
    assert store.current(doc_id)[0].to_markdown() == changed
    news = [h for h in store.history(doc_id) if h.id > rev]
    assert news and {h.author for h in news} == {"external"}
    assert len(store.documents()) == 1
    other = store.import_document(TEXT)  # no path: always a new document
    assert other.id != doc_id and len(store.documents()) == 2


def test_file_hash_is_kept_per_document_without_touching_the_history(store, doc_id, tmp_path):
    other = store.import_document("# Other\n\nText.\n", path=str(tmp_path / "other.md")).id
    revisions = store.history(doc_id)
    assert store.file_hash(doc_id) is None and store.file_hash(other) is None
    store.set_file_hash(doc_id, "0" * 32)
    store.set_file_hash(doc_id, "f" * 32)  # the latest write wins
    assert store.file_hash(doc_id) == "f" * 32 and store.file_hash(other) is None
    assert store.history(doc_id) == revisions  # session state: no change, no revision
    store.close()
    with Store(store.path) as reopened:  # durable: it is in the database, not in a side file
        assert reopened.file_hash(doc_id) == "f" * 32
        assert not Path(str(store.path) + ".saved.json").exists()


def test_file_hash_refusals(store, doc_id):
    with pytest.raises(DocumentNotFound):
        store.file_hash("0" * 32)
    with pytest.raises(DocumentNotFound):
        store.set_file_hash("0" * 32, "a" * 32)
    with pytest.raises(ValueError):
        store.set_file_hash(doc_id, "")
    assert store.file_hash(doc_id) is None
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.set_file_hash(doc_id, "a" * 32)


def test_revisions_and_changes_are_append_only(store, doc_id):
    raw = sqlite3.connect(store.path)
    try:
        for sql in ("UPDATE revisions SET text = 'x'", "DELETE FROM revisions",
                    "UPDATE changes SET author = 'x'", "DELETE FROM changes WHERE id = 1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute(sql)
            raw.rollback()
    finally:
        raw.close()
    assert store.current(doc_id)[0].to_markdown() == TEXT


def test_pragmas_wal_and_foreign_keys(store, doc_id):
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: durable on commit
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_validation(store, doc_id):
    doc, _ = store.current(doc_id)
    with pytest.raises(ValueError):
        store.commit(doc_id, doc, author="someone", operation="edit")
    with pytest.raises(ValueError):
        store.commit(doc_id, doc, author="writer", operation="dance")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.current(doc_id)


def test_default_db_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBA_DB", str(tmp_path / "x" / "my.db"))
    assert default_db_path() == tmp_path / "x" / "my.db"
    monkeypatch.delenv("SCRIBA_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = default_db_path()
    assert path.name == "scriba.db" and path.parent.is_dir() and "scriba" in str(path.parent)
    with Store(path) as s:
        assert s.documents() == []
    assert Path(path).exists()


def test_commit_after_document_api_edits(store, doc_id):
    doc, rev = store.current(doc_id)
    para = next(n for n in doc.walk() if str(n.kind) == "paragraph")
    doc.set_text(para.id, "The river was high this spring. It rained. We walked the east bank every morning.")
    heading = next(n for n in doc.walk() if str(n.kind) == "heading" and n.level == 2)
    doc.delete(heading.id)
    revs = store.commit(doc_id, doc, author="writer", operation="edit", base_revision=rev)
    effects = {r.effect for r in revs}
    assert "insert" in effects and "delete" in effects and len({r.change_id for r in revs}) == 1
    assert store.current(doc_id)[0].to_markdown() == doc.to_markdown()
    assert store.at(doc_id, rev).to_markdown() == TEXT


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["edit", "delete", "swap", "restore", "noop"]),
                              st.integers(0, 10**6)), min_size=1, max_size=10))
def test_every_revision_rebuilds_exactly(tmp_path_factory, ops):
    """Random edits, deletions, moves and restores: at(R) reproduces the document after every commit,
    and each revision points at the previous revision of its node."""
    with Store(tmp_path_factory.mktemp("prop") / "p.db") as store:
        doc_id = store.import_document(TEXT).id
        doc, rev = store.current(doc_id)
        states = {rev: TEXT}
        for op, k in ops:
            doc, rev = store.current(doc_id)
            records = doc.records()
            ls = leaves(doc)
            if op == "restore":
                revs = store.restore(doc_id, sorted(states)[k % len(states)])
            else:
                if op == "edit" and ls:
                    doc = edited(doc, {ls[k % len(ls)].id: f"Sentence number {k}."})
                elif op == "delete" and ls:
                    doc = without(doc, ls[k % len(ls)].id)
                elif op == "swap":
                    groups: dict = {}
                    for r in records:
                        groups.setdefault(r.parent_id, []).append(r)
                    pairs = [g for p, g in groups.items() if p and len(g) >= 2]
                    if pairs:
                        a, b = pairs[k % len(pairs)][:2]
                        swap = {a.id: b.order, b.id: a.order}
                        doc = Document.from_records([dataclasses.replace(r, order=swap[r.id]) if r.id in swap
                                                     else r for r in records])
                revs = store.commit(doc_id, doc, author="writer", operation="edit", base_revision=rev)
            now, new_rev = store.current(doc_id)
            if revs:
                assert new_rev == revs[-1].id
                states[new_rev] = now.to_markdown()
            else:
                assert new_rev == rev
        for r, text in states.items():
            assert store.at(doc_id, r).to_markdown() == text
        previous: dict[str, int] = {}
        for h in store.history(doc_id):
            assert h.parent_revision_id == previous.get(h.node_id)
            previous[h.node_id] = h.id
