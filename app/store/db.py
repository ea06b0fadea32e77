"""Opening the SQLite database: engine and pragmas, refusing what is not a scriba database, Alembic
upgrade on open, and the translation of SQLite failures into one-line `StoreError`s."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc

from app.store.errors import ReadOnlyError, StoreError

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
MIGRATIONS_DIR = Path(str(resources.files("app.store") / "migrations"))  # package data (pyproject)
DEFAULT_TIMEOUT = 5.0  # seconds a writer waits for another writer before giving up ("locked")
WRITE = "scriba_write"  # execution option: begin with BEGIN IMMEDIATE (take the write lock up front)
CACHE_KIB = 64 << 10  # page cache per connection, at most (KiB): a big import inserts random ids into
# B-tree indexes; with SQLite's default 2 MB cache every insert past the first few thousand re-reads a page
HEAD = "0004"  # the newest migration in migrations/versions (a test checks that it is Alembic's head)


def default_db_path() -> Path:
    """$SCRIBA_DB, else `platformdirs.user_data_dir("scriba")/scriba.db` (the folder is created)."""
    env = os.environ.get("SCRIBA_DB")
    if env:
        return Path(env).expanduser()
    import platformdirs

    folder = Path(platformdirs.user_data_dir("scriba", appauthor=False))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {folder}: {exc.strerror or exc}") from None
    return folder / "scriba.db"


def holds_file(db_file: Path, file: Path) -> bool:
    """Whether the database at `db_file` has a document imported from `file` (a resolved path): a quick
    read-only look with sqlite3 alone, before the store is opened; False for anything it cannot read."""
    if not db_file.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{quote(str(db_file))}?mode=ro", uri=True, timeout=0.5)
        try:
            return conn.execute("SELECT 1 FROM documents WHERE path = ? LIMIT 1", (str(file),)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def make_engine(url: str, timeout: float = DEFAULT_TIMEOUT, *, read_only: bool = False) -> Engine:
    """A SQLite engine in WAL mode, foreign keys on, synchronous=FULL (a commit is durable when it
    returns), busy timeout `timeout`, and SQLAlchemy (not pysqlite) in charge of BEGIN: plain BEGIN for
    reads, BEGIN IMMEDIATE for connections carrying the `scriba_write` execution option, so two writers
    queue on the lock instead of failing half-way (see the SQLAlchemy SQLite docs, "Enabling Non-Legacy
    SQLite Transactional Modes"). `read_only`: `url` opens the file with mode=ro; the journal mode is
    left as the file has it (setting it would write)."""
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not emit BEGIN itself
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            if read_only:
                return
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("SQLite refused WAL mode (journal_mode=%s)", mode)
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def describe(exc: BaseException, path: Path | str) -> str:
    """One line for a SQLite / SQLAlchemy / OS failure on the database at `path`."""
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return f"database is locked: {path} (another scriba is writing to it; try again)"
    if "file is not a database" in low or "not a database" in low:
        return f"not a scriba database: {path}"
    if "malformed" in low or "corrupt" in low:
        return f"corrupt database: {path} ({msg})"
    if "readonly" in low or "read-only" in low or "unable to open" in low or "permission denied" in low:
        return f"cannot write to {path}: read-only location ({msg})"
    if "append-only" in low:
        return f"refused: {msg} ({path})"
    if "disk is full" in low or getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return f"the disk is full: nothing was written to {path} (free some space and try again)"
    if "disk i/o" in low:
        # SQLite reports a full disk met while writing the WAL as an I/O error: tell the two apart
        if _free_bytes(Path(path).parent) < _NEARLY_FULL:
            return f"the disk is full: nothing was written to {path} (free some space and try again)"
        return f"disk I/O error on {path}: the disk or its file system failed ({msg})"
    return f"database error in {path}: {msg}"


_NEARLY_FULL = 1 << 20  # bytes free: below this, an I/O error while writing means the disk is full


def _free_bytes(folder: Path) -> int:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows) or no such folder: cannot tell
        return _NEARLY_FULL
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def guard(path: Path | str) -> Iterator[None]:
    """Turn database-level failures into `StoreError` with a one-line message."""
    try:
        yield
    except StoreError:
        raise
    except (sa_exc.DBAPIError, sqlite3.Error) as exc:
        raise StoreError(describe(exc, path)) from exc
    except sa_exc.SQLAlchemyError as exc:  # e.g. a ResourceClosedError on a closed store
        raise StoreError(f"database error in {path}: {str(exc).splitlines()[0]}") from exc


def check_file(path: Path, read_only: bool = False) -> bool:
    """Refuse, before SQLite touches it, anything that cannot be our database. Returns whether the file
    already holds data (False: new or empty file). Unless `read_only`, refuses (ReadOnlyError) a file
    or folder it cannot write."""
    parent = path.parent
    if path.is_dir():
        raise StoreError(f"not a scriba database: {path} (it is a folder)")
    if read_only and not path.exists():
        raise StoreError(f"no database at {path}")
    if not read_only:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {parent}: {exc.strerror or exc}") from None
    if not path.exists():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ReadOnlyError(f"cannot write to {path}: read-only location")
        return False
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not header:
        if read_only:
            raise StoreError(f"not a scriba database: {path} (it is empty)")
        return False
    if header != SQLITE_MAGIC:
        raise StoreError(f"not a scriba database: {path}")
    # WAL needs to write the database and create its -wal/-shm files beside it.
    if not read_only and (not os.access(path, os.W_OK) or not os.access(parent, os.W_OK | os.X_OK)):
        raise ReadOnlyError(f"cannot write to {path}: read-only location (scriba export, history and tree "
                            "can still read it)")
    return True


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()  # no alembic.ini: everything is set here
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts():
    """The migration scripts (read once: they do not change while scriba runs)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def known_revisions() -> set[str]:
    return {s.revision for s in _scripts().walk_revisions()}


def head_revision() -> str:
    return _scripts().get_current_head()


def open_database(path: Path, timeout: float = DEFAULT_TIMEOUT, *, read_only: bool = False) -> Engine:
    """Check, open and upgrade the database at `path`; return the engine. Raises StoreError.
    `read_only`: opened for reading only (a read-only file or folder), never upgraded."""
    has_data = check_file(path, read_only)
    if read_only:
        # immutable=1 when the folder is read-only too: SQLite then needs no -shm file beside it
        writable_folder = os.access(path.parent, os.W_OK | os.X_OK)
        url = f"sqlite:///file:{quote(str(path))}?mode=ro{'' if writable_folder else '&immutable=1'}&uri=true"
        engine = make_engine(url, timeout, read_only=True)
    else:
        engine = make_engine(f"sqlite:///{path}", timeout)
    try:
        with guard(path):
            with engine.connect() as conn:
                if has_data:
                    result = conn.exec_driver_sql("PRAGMA quick_check").fetchall()
                    if [r[0] for r in result] != ["ok"]:
                        raise StoreError(f"corrupt database: {path} ({result[0][0]})")
                tables = {r[0] for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
                heads: set[str] = set()
                if "alembic_version" in tables:
                    heads = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
                    if not heads and tables != {"alembic_version"}:  # tables, but no schema version
                        raise StoreError(f"damaged database: {path} has tables but no schema version "
                                         "(not a scriba store, or its alembic_version table was emptied)")
                elif tables:
                    raise StoreError(f"not a scriba database: {path}")
                conn.rollback()
            if not tables and not read_only:
                heads = create_at_head(engine)
            if heads != {HEAD}:  # (at HEAD: up to date, and no need to load Alembic at all)
                unknown = heads - known_revisions()
                if unknown:
                    raise StoreError(f"{path} was written by a newer scriba (schema {', '.join(sorted(unknown))}); "
                                     "upgrade scriba to open it")
                if heads != {head_revision()}:
                    if read_only:
                        raise ReadOnlyError(f"{path} needs a schema upgrade, which a read-only database cannot "
                                            "take; open it once where it can be written")
                    upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def create_at_head(engine: Engine) -> set[str]:
    """Make an empty database's schema straight from `schema.STATEMENTS` (the migrations' result at head,
    without loading Alembic), in one BEGIN IMMEDIATE transaction; a database another process filled
    meanwhile is left as it is. Returns the schema version(s) the database is at now."""
    from app.store import schema

    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table'").first():
                for statement in schema.STATEMENTS:
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (schema.VERSION,))
            return {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}


def upgrade(engine: Engine, target: str = "head") -> None:
    """Run the Alembic migrations up to `target` in one BEGIN IMMEDIATE transaction."""
    from alembic import command

    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        command.upgrade(alembic_config(conn), target)
        if conn.in_transaction():
            conn.commit()


def print_schema_from_migrations() -> None:  # pragma: no cover - a maintenance tool (app.store.schema)
    """Print app.store.schema's STATEMENTS as the migrations make them (in a throw-away database)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        with sqlite3.connect(path) as conn:
            for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                       "AND name != 'sqlite_sequence' ORDER BY rowid"):
                print(f"    {sql!r},  # noqa: E501" if len(repr(sql)) > 110 else f"    {sql!r},")


if __name__ == "__main__" and sys.argv[1:] == ["--schema"]:  # pragma: no cover
    print_schema_from_migrations()
