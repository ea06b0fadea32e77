"""Alembic: a database at the first schema is upgraded on open with its data intact, one at 0002 takes in
the old `<db>.saved.json` side file, and the migrations produce exactly the schema of the models."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.store import Store
from app.store.db import HEAD, alembic_config, head_revision, known_revisions, make_engine, upgrade
from app.store.models import Base
from engine.document import Document

TEXT = "# Old notes\n\nWritten before the indexes existed. Still here.\n\nA second paragraph.\n"


def write_old_document(raw: sqlite3.Connection, doc: Document, path: str | None, title: str) -> str:
    """Insert `doc` as one imported document with plain SQL, the columns of schemas 0001 and 0002 only (as
    an old scriba would have left it). Returns its id."""
    now = datetime(2024, 5, 1, 12, 0, 0).isoformat(sep=" ")
    doc_id = raw.execute("SELECT lower(hex(randomblob(16)))").fetchone()[0]
    raw.execute("INSERT INTO documents (id, path, title, created_at) VALUES (?, ?, ?, ?)", (doc_id, path, title, now))
    change_id = raw.execute("INSERT INTO changes (document_id, author, operation, params, candidates, created_at) "
                            "VALUES (?, 'import', 'import', 'null', 'null', ?)", (doc_id, now)).lastrowid
    for r in doc.records():
        raw.execute("INSERT INTO nodes VALUES (?, ?, ?, ?)", (r.id, doc_id, r.kind, now))
        raw.execute('INSERT INTO revisions (change_id, node_id, effect, kind, parent_node_id, "order", level, '
                    "text, tail, deleted) VALUES (?, ?, 'insert', ?, ?, ?, ?, ?, ?, 0)",
                    (change_id, r.id, r.kind, r.parent_id, r.order, r.level, r.text, r.tail))
    return doc_id


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table but alembic_version, and the schema's indexes and triggers."""
    with sqlite3.connect(path) as raw:
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                            "LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name")]
        out = {t: sorted(raw.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
        out["schema"] = sorted(raw.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', "
                                           "'trigger')").fetchall(), key=repr)
    return out


def database_at(path: Path, revision: str) -> None:
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()


def test_migrations_form_one_chain_from_0001():
    assert {"0001", "0002", "0003"} <= known_revisions()
    assert head_revision() != "0001"
    assert HEAD == head_revision()  # a database at HEAD is opened without loading Alembic: keep it the head


def test_upgrade_from_the_first_schema_keeps_the_data(tmp_path):
    path = tmp_path / "old.db"
    database_at(path, "0001")

    # data written by the first schema, with plain SQL (as an old scriba would have left it)
    doc = Document.from_markdown(TEXT)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
        assert not raw.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'").fetchall()
        doc_id = write_old_document(raw, doc, "/old/notes.md", "Old notes")

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


def test_upgrade_from_0002_takes_the_saved_side_file_into_the_store(tmp_path):
    path = tmp_path / "scriba.db"
    database_at(path, "0002")
    saved, unsaved = tmp_path / "saved.md", tmp_path / "never-saved.md"
    with sqlite3.connect(path) as raw:
        saved_id = write_old_document(raw, Document.from_markdown(TEXT), str(saved), "Saved")
        unsaved_id = write_old_document(raw, Document.from_markdown("# Other\n\nText.\n"), str(unsaved), "Other")
        pathless_id = write_old_document(raw, Document.from_markdown("Pasted.\n"), None, "Pasted")
    # what Session wrote beside the database: {resolved file path: content hash of what it last wrote}
    side = Path(str(path) + ".saved.json")
    side.write_text(json.dumps({str(saved): "a" * 32, str(tmp_path / "gone.md"): "b" * 32}))
    before = dump(path)

    with Store(path) as store:
        assert store.file_hash(saved_id) == "a" * 32
        assert store.file_hash(unsaved_id) is None
        assert store.file_hash(pathless_id) is None
        assert store.current(saved_id)[0].to_markdown() == TEXT

    after = dump(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0004" == head_revision()
        columns = [r[1] for r in raw.execute("PRAGMA table_info(documents)")]
        assert columns == ["id", "path", "title", "created_at", "file_hash", "file_revision"]
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # nothing else changed: every row as it was (documents gained only the new last columns: file_hash,
    # then 0004's file_revision, still empty), same indexes and triggers
    documents = after.pop("documents")
    assert [row[-1] for row in documents] == [None] * len(documents)
    assert [row[:-2] for row in documents] == before.pop("documents")
    assert after == before
    assert json.loads(side.read_text()) == {str(saved): "a" * 32, str(tmp_path / "gone.md"): "b" * 32}


def test_a_broken_side_file_does_not_stop_the_upgrade(tmp_path):
    path = tmp_path / "scriba.db"
    database_at(path, "0002")
    with sqlite3.connect(path) as raw:
        doc_id = write_old_document(raw, Document.from_markdown(TEXT), str(tmp_path / "notes.md"), "Notes")
    Path(str(path) + ".saved.json").write_text("{not json")
    with Store(path) as store:
        assert store.file_hash(doc_id) is None
        assert store.current(doc_id)[0].to_markdown() == TEXT


def test_downgrade_to_0002_gives_back_its_schema(tmp_path):
    old, back = tmp_path / "at-0002.db", tmp_path / "down.db"
    database_at(old, "0002")
    database_at(back, "head")
    engine = make_engine(f"sqlite:///{back}")
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0002")
            conn.commit()
    finally:
        engine.dispose()

    def schema(path: Path) -> list[tuple]:
        with sqlite3.connect(path) as raw:
            return sorted(raw.execute("SELECT type, name FROM sqlite_master").fetchall()) + [
                (t, *c) for t in ("documents", "nodes", "changes", "revisions")
                for c in raw.execute(f"PRAGMA table_info({t})").fetchall()]

    assert schema(back) == schema(old)
