"""Two real processes (spawn) commit 50 edits each to different nodes of one document at the same time:
nothing is lost, nothing conflicts, and the database passes SQLite's integrity check."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3

from app.store import Store

EDITS = 50
TEXT = "# Shared\n\nFirst paragraph, for writer A.\n\nSecond paragraph, for writer B.\n"


def _writer(db_path: str, doc_id: str, node_id: str, tag: str, start, results) -> None:
    """Commit EDITS edits to one node, each read-modify-commit with base_revision. Reports conflicts seen."""
    from app.store import ConflictError
    from engine.document import Document

    conflicts = 0
    with Store(db_path, timeout=30) as store:
        start.wait(timeout=60)  # both processes are up: now write at the same time
        for i in range(EDITS):
            while True:
                doc, rev = store.current(doc_id)
                records = [dataclasses.replace(r, text=f"{tag} edit {i}.") if r.id == node_id else r
                           for r in doc.records()]
                try:
                    revs = store.commit(doc_id, Document.from_records(records), author="writer",
                                        operation="edit", base_revision=rev)
                    assert len(revs) == 1
                    break
                except ConflictError:  # must not happen: the two writers touch different nodes
                    conflicts += 1
    results.put((tag, conflicts))


def test_two_writer_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    with Store(path) as store:
        doc_id = store.import_document(TEXT).id
        doc, _ = store.current(doc_id)
    parents = {r.parent_id for r in doc.records()}
    leaves = [r for r in doc.records() if r.id not in parents and "writer" in r.text]
    a, b = leaves[0].id, leaves[-1].id
    assert a != b

    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(path), doc_id, node, tag, start, results))
             for node, tag in ((a, "A"), (b, "B"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(results.get(timeout=5) for _ in procs) == [("A", 0), ("B", 0)]

    with Store(path) as store:
        for node, tag in ((a, "A"), (b, "B")):
            edits = [h for h in store.history(doc_id, node) if h.author == "writer"]
            assert [h.text for h in edits] == [f"{tag} edit {i}." for i in range(EDITS)]
        writer_revs = [h for h in store.history(doc_id) if h.author == "writer"]
        assert len(writer_revs) == 2 * EDITS
        assert len({h.change_id for h in writer_revs}) == 2 * EDITS
        final = {r.id: r.text for r in store.current(doc_id)[0].records()}
        assert final[a] == f"A edit {EDITS - 1}." and final[b] == f"B edit {EDITS - 1}."
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
