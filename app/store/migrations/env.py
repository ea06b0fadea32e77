"""Alembic environment for the scriba store.

Normally run in-process by `app.store.db.upgrade()`, which builds the Alembic `Config` in code (no
alembic.ini) and hands its open connection over in `config.attributes["connection"]`. For development
(`alembic revision --autogenerate`), a URL can be given instead: `-x url=sqlite:///path/to/scriba.db`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
        transactional_ddl=True,  # SQLAlchemy emits BEGIN itself (db.make_engine), so SQLite DDL is transactional
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from app.store.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///PATH …")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the scriba store has no offline (SQL script) migrations")
run_migrations_online()
