"""The store keeps which revision the document's file was last written from: `documents.file_revision`,
beside `file_hash`, so that an edit made to the file elsewhere is merged three-way against the document
as the file held it (app.file_state). Existing documents start with none known.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("file_revision", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("documents", "file_revision")  # SQLite >= 3.35: ALTER TABLE … DROP COLUMN
