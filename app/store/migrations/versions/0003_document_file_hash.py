"""The store keeps what scriba last wrote to each document's file: `documents.file_hash`, filled from the
side file `<db>.saved.json` ({resolved file path: content hash}) that older scribas kept beside the database.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

SIDE_FILE_SUFFIX = ".saved.json"  # the old side file: Path(str(database path) + ".saved.json")


def side_file_hashes(database: str | None) -> dict[str, str]:
    """{document path: hash} from the side file beside `database` ({} when there is none, or it cannot be
    read: it was a cache, so a broken one must not stop the upgrade)."""
    if not database or database == ":memory:":
        return {}
    side = Path(database + SIDE_FILE_SUFFIX)
    try:
        entries = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("ignored the unreadable %s: %s", side, exc)
        return {}
    if not isinstance(entries, dict):
        log.warning("ignored %s: not a JSON object", side)
        return {}
    return {path: digest for path, digest in entries.items() if isinstance(digest, str) and digest}


def upgrade() -> None:
    op.add_column("documents", sa.Column("file_hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    documents = sa.table("documents", sa.column("path", sa.Text()), sa.column("file_hash", sa.String(64)))
    # The side file was keyed by the resolved file path, as documents.path is stored; it is left in place
    # (an older scriba refuses this schema, so nothing reads it any more).
    for path, digest in side_file_hashes(bind.engine.url.database).items():
        bind.execute(documents.update().where(documents.c.path == path).values(file_hash=digest))


def downgrade() -> None:
    op.drop_column("documents", "file_hash")  # SQLite >= 3.35: ALTER TABLE … DROP COLUMN
