"""Alembic: a database at the first schema is upgraded on open with its data intact, and the migrations
produce exactly the schema of the models."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.document import Document
from app.store import Store
from app.store.db import HEAD, head_revision, known_revisions, make_engine, upgrade
from app.store.models import Base

TEXT = "# Old notes\n\nWritten before the indexes existed. Still here.\n\nA second paragraph.\n"


def test_migrations_form_one_chain_from_0001():
    assert {"0001", "0002"} <= known_revisions()
    assert head_revision() != "0001"
    assert HEAD == head_revision()  # a database at HEAD is opened without loading Alembic: keep it the head


def test_upgrade_from_the_first_schema_keeps_the_data(tmp_path):
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0001")
    engine.dispose()

    # data written by the first schema, with plain SQL (as an old scriba would have left it)
    doc = Document.from_markdown(TEXT)
    now = datetime(2024, 5, 1, 12, 0, 0).isoformat(sep=" ")
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
        assert not raw.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'").fetchall()
        raw.execute("INSERT INTO documents VALUES ('d' || hex(randomblob(15)), '/old/notes.md', 'Old notes', ?)",
                    (now,))
        doc_id = raw.execute("SELECT id FROM documents").fetchone()[0]
        raw.execute("INSERT INTO changes (document_id, author, operation, params, candidates, created_at) "
                    "VALUES (?, 'import', 'import', 'null', 'null', ?)", (doc_id, now))
        for r in doc.records():
            raw.execute("INSERT INTO nodes VALUES (?, ?, ?, ?)", (r.id, doc_id, r.kind, now))
            raw.execute('INSERT INTO revisions (change_id, node_id, effect, kind, parent_node_id, "order", level, '
                        "text, tail, deleted) VALUES (1, ?, 'insert', ?, ?, ?, ?, ?, ?, 0)",
                        (r.id, r.kind, r.parent_id, r.order, r.level, r.text, r.tail))

    with Store(path) as store:
        current, rev = store.current(doc_id)
        assert current.to_markdown() == TEXT
        assert rev == len(doc.records())
        assert store.find_document("/old/notes.md").id == doc_id
        info = store.find_document(doc_id)
        assert info.title == "Old notes" and info.created_at.year == 2024
        history = store.history(doc_id)
        assert {h.author for h in history} == {"import"} and history[0].params == {}
        leaf = [r for r in current.records() if r.text.strip()][-1]
        changed = Document.from_records([r if r.id != leaf.id else dataclasses.replace(r, text="New.")
                                         for r in current.records()])
        assert store.commit(doc_id, changed, author="writer", operation="edit", base_revision=rev)

    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"ix_revisions_node_id_id", "ix_nodes_document_id", "ix_documents_path"} <= indexes
        triggers = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        assert triggers == {"revisions_no_update", "revisions_no_delete", "changes_no_update", "changes_no_delete"}
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_models_match_the_migrated_schema(tmp_path):
    path = tmp_path / "head.db"
    Store(path).close()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
