"""SQLAlchemy 2.x models of the append-only revision store (the schema at Alembic head).

documents ─< nodes ─< revisions >─ changes >─ documents

* `documents`: one row per imported document (path: the resolved absolute path it came from, if any;
  file_hash: the hash of what scriba last wrote to that file, updated on every save; file_revision: the
  revision that content was made from).
* `nodes`: one row per node identity (`NodeRecord.id`), ever. Never deleted.
* `changes`: one row per action / transaction (who, what, which model and parameters, the candidates
  offered and which one was taken). Never updated or deleted (SQLite triggers enforce it).
* `revisions`: one row per node per change: the node's full persisted state after that change
  (`NodeRecord` fields, plus `deleted`). Never updated or deleted (triggers). The state of a document
  at revision R = for each of its nodes the latest revision with id <= R, minus the deleted ones.

The migrations in `migrations/versions/` must produce exactly this schema
(tests/app/store/test_store_migrations.py compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones); always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_path", "path"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the content hash (app.sync.content_hash) of what scriba last wrote to the document's file, so that
    # reopening tells "the file was edited elsewhere" from "scriba quit with unsaved changes"
    file_hash: Mapped[str | None] = mapped_column(String(64))
    # the store revision that file content was made from (None: unknown, or not one revision): the base of
    # the three-way merge of an edit made to the file elsewhere (app.file_state)
    file_revision: Mapped[int | None] = mapped_column(Integer)


class NodeRow(Base):
    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_document_id", "document_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    kind: Mapped[str] = mapped_column(String(16))  # the kind the node was created with
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChangeRow(Base):
    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_document_id", "document_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    author: Mapped[str] = mapped_column(String(16))  # writer | model | external | import
    operation: Mapped[str] = mapped_column(String(16))  # edit | expand | rewrite | … | restore | import
    level: Mapped[str | None] = mapped_column(String(16))  # sentence | paragraph | heading | section | document
    instruction: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    candidates: Mapped[list[str] | None] = mapped_column(JSON)
    chosen: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    base_revision: Mapped[int | None] = mapped_column(Integer)


class RevisionRow(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        Index("ix_revisions_node_id_id", "node_id", "id"),
        Index("ix_revisions_change_id", "change_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    parent_revision_id: Mapped[int | None] = mapped_column(ForeignKey("revisions.id"))  # this node's previous
    effect: Mapped[str] = mapped_column(String(8))  # insert | delete | move | edit (what happened to the node)
    kind: Mapped[str] = mapped_column(String(16))
    parent_node_id: Mapped[str | None] = mapped_column(String(64))  # the tree parent (None: the root)
    order: Mapped[str] = mapped_column("order", Text)
    level: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    tail: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean)
