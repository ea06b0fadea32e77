"""Indexes for the hot lookups: a node's latest revision, a document's nodes and changes, import by path.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_revisions_node_id_id", "revisions", ["node_id", "id"]),
    ("ix_revisions_change_id", "revisions", ["change_id"]),
    ("ix_nodes_document_id", "nodes", ["document_id"]),
    ("ix_changes_document_id", "changes", ["document_id"]),
    ("ix_documents_path", "documents", ["path"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
