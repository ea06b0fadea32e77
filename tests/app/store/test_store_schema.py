"""A new database is created straight from `app.store.schema` (no Alembic loaded): it must be exactly the
schema the migrations make, at the same version, and behave as one (append-only triggers, upgrades)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import Store, schema
from app.store.db import HEAD, head_revision, make_engine, upgrade


def master(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        version = raw.execute("SELECT version_num FROM alembic_version").fetchall()
    return sorted(rows, key=repr) + [("version", *version)]


def test_the_schema_is_what_the_migrations_make(tmp_path):
    migrated = tmp_path / "migrated.db"
    engine = make_engine(f"sqlite:///{migrated}")
    upgrade(engine)
    engine.dispose()
    Store(tmp_path / "fresh.db").close()
    assert master(tmp_path / "fresh.db") == master(migrated)
    assert schema.VERSION == HEAD == head_revision()


def test_a_new_store_does_not_load_alembic(tmp_path):
    code = ("import sys\nfrom app.store import Store\nStore(sys.argv[1]).close()\n"
            "assert not any(m.split('.')[0] == 'alembic' for m in sys.modules), 'alembic loaded'\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "new.db")], capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert result.returncode == 0, result.stderr


def test_a_new_store_is_append_only(tmp_path):
    with Store(tmp_path / "s.db") as store:
        doc_id = store.import_document("# A\n\nText.\n").id
    with sqlite3.connect(tmp_path / "s.db") as raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE revisions SET text = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM changes")
    with Store(tmp_path / "s.db") as store:  # reopened: at head, nothing to upgrade
        assert store.current(doc_id)[0].to_markdown() == "# A\n\nText.\n"
