"""One-line messages for a full disk, a read-only database (which export, history and tree still read)
and a damaged schema version, with real SQLite files: a full disk is SQLite's own SQLITE_FULL, made by
`PRAGMA max_page_count`; read-only is a chmod (or, for root, whom modes do not stop, `chattr +i`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import event

from app.cli import main
from app.store import ReadOnlyError, Store, StoreError

TEXT = "# Notes\n\nThe first sentence. The second one.\n\nAnother paragraph here.\n"
BIG = "# Big\n\n" + "\n\n".join(f"Paragraph {i} has a sentence. And one more." for i in range(2000)) + "\n"


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message
    return message


@contextlib.contextmanager
def read_only(path: Path):
    """Make a file or folder read-only for this process while the block runs."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root, and chattr +i (the one thing root cannot write past) is unavailable")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.fixture
def db(tmp_path) -> tuple[Path, str]:
    """A database (checkpointed and closed: no -wal or -shm beside it) holding one document."""
    path = tmp_path / "data" / "scriba.db"
    with Store(path) as store:
        doc_id = store.import_document(TEXT, path=str(tmp_path / "notes.md")).id
    return path, doc_id


def test_a_full_disk_says_so_and_writes_nothing(db):
    path, doc_id = db
    with Store(path) as store:
        store._engine.dispose()  # new connections, each capped a few pages above the file's size

        @event.listens_for(store._engine, "connect")
        def _cap(dbapi_conn, _record):
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

        revision = store.current(doc_id)[1]
        with pytest.raises(StoreError) as info:
            store.import_document(BIG, path=str(path.parent / "big.md"))
        assert one_line(str(info.value)) == (f"the disk is full: nothing was written to {path} "
                                             "(free some space and try again)")
        assert isinstance(info.value.__cause__.orig, sqlite3.OperationalError)
        assert info.value.__cause__.orig.sqlite_errorcode == sqlite3.SQLITE_FULL
        assert [d.id for d in store.documents()] == [doc_id] and store.current(doc_id)[1] == revision


def test_a_read_only_database_file_is_refused_for_writing(db):
    path, doc_id = db
    with read_only(path):
        with pytest.raises(ReadOnlyError) as info:
            Store(path)
        assert one_line(str(info.value)) == (f"cannot write to {path}: read-only location (scriba export, "
                                             "history and tree can still read it)")
        with Store(path, read_only=True) as store:
            assert store.current(doc_id)[0].to_markdown() == TEXT
            with pytest.raises(ReadOnlyError, match="opened read-only"):
                store.set_file_hash(doc_id, "abc")


@pytest.mark.parametrize("what", ["file", "folder"])
def test_export_history_and_tree_read_a_read_only_database(db, capsys, what):
    path, doc_id = db
    with read_only(path if what == "file" else path.parent):
        assert main(["export", doc_id, "--db", str(path)]) == 0
        assert capsys.readouterr().out == TEXT
        assert main(["history", doc_id, "--db", str(path)]) == 0
        assert "import" in capsys.readouterr().out
        assert main(["tree", doc_id, "--db", str(path)]) == 0
        assert "The first sentence." in capsys.readouterr().out
        assert main(["import", str(path.parent.parent / "other.md"), "--db", str(path)]) == 1
        assert one_line(capsys.readouterr().err.rstrip("\n"))
    beside = {p.name: p.stat().st_size for p in path.parent.iterdir() if p.name != "scriba.db"}
    if what == "folder":
        assert beside == {}  # opened immutable: nothing could be created there, nothing was
    else:  # SQLite's shared-memory index for readers, and an empty log: no change was written
        assert set(beside) <= {"scriba.db-shm", "scriba.db-wal"} and beside.get("scriba.db-wal", 0) == 0


def test_an_emptied_schema_version_is_called_damage(db):
    path, _ = db
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM alembic_version")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert one_line(str(info.value)) == (f"damaged database: {path} has tables but no schema version "
                                         "(not a scriba store, or its alembic_version table was emptied)")
