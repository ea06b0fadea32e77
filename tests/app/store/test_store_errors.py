"""What the store refuses, always as a one-line StoreError: files that are not scriba databases (text,
random bytes, truncated or corrupted databases, other applications' SQLite files), a database from a
newer scriba, a locked database, a location it cannot write to."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.store import Store, StoreError

TEXT = "# Title\n\n" + "\n\n".join(f"Paragraph {i} says something. It goes on a little." for i in range(300)) + "\n"


def refused(path: Path, match: str) -> str:
    with pytest.raises(StoreError, match=match) as info:
        Store(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    """A real database of several pages, fully checkpointed into the main file."""
    path = tmp_path_factory.mktemp("good") / "scriba.db"
    with Store(path) as s:
        s.import_document(TEXT, path="big.md")
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Not a database\n\nJust Markdown.\n")
    assert refused(path, "not a scriba database") == f"not a scriba database: {path}"
    assert path.read_text() == "# Not a database\n\nJust Markdown.\n"  # untouched
    assert not Path(f"{path}-wal").exists()


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.db"
    path.write_bytes(random.Random(0).randbytes(8192))
    refused(path, "not a scriba database")


def test_folder_is_refused(tmp_path):
    refused(tmp_path, "not a scriba database")


def test_truncated_database_is_refused(good_db, tmp_path):
    data = good_db.read_bytes()
    assert len(data) > 8 * 4096
    for size, match in ((60, "not a scriba database|corrupt"), (len(data) // 2, "corrupt|not a scriba")):
        path = tmp_path / f"trunc{size}.db"
        path.write_bytes(data[:size])
        refused(path, match)


def test_corrupted_pages_are_refused(good_db, tmp_path):
    data = bytearray(good_db.read_bytes())
    data[4096 * 2: 4096 * 6] = random.Random(1).randbytes(4096 * 4)
    path = tmp_path / "corrupt.db"
    path.write_bytes(bytes(data))
    refused(path, "corrupt|not a scriba")


def test_other_applications_sqlite_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    refused(path, "not a scriba database")
    with sqlite3.connect(path) as raw:  # and left alone
        assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["photos"]


def test_database_from_a_newer_scriba_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    message = refused(path, "newer scriba")
    assert "0099_from_the_future" in message


def test_locked_database_gives_store_error(tmp_path):
    path = tmp_path / "locked.db"
    with Store(path) as s:
        doc_id = s.import_document("# A\n\nOne sentence.\n").id
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock and does not let go
    try:
        with Store(path, timeout=0.2) as s:  # opening and reading still work (WAL)
            doc, rev = s.current(doc_id)
            with pytest.raises(StoreError, match="database is locked") as info:
                s.import_document("# B\n")
            assert "\n" not in str(info.value)
    finally:
        holder.rollback()
        holder.close()
    with Store(path) as s:
        s.import_document("# B\n")
        assert len(s.documents()) == 2


def test_unwritable_location_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    refused(blocker / "sub" / "scriba.db", "cannot create the database folder")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (read-only for everyone)")
def test_read_only_filesystem_is_refused():
    refused(Path("/proc/scriba.db"), "cannot write|read-only|cannot create")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    Store(folder / "scriba.db").close()
    folder.chmod(0o500)
    try:
        refused(folder / "scriba.db", "read-only location")
        refused(folder / "new.db", "read-only location")
    finally:
        folder.chmod(0o700)


def test_cli_prints_one_line_and_exits_1(tmp_path, capsys):
    path = tmp_path / "notes.md"
    path.write_text("not a database")
    assert main(["export", "whatever", "--db", str(path)]) == 1
    assert main(["history", "whatever", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err and "not a scriba database" in err
