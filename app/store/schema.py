"""The schema at Alembic head, as SQLite holds it: a new (empty) database is created from it in one
transaction instead of by running every migration (loading Alembic and its scripts costs most of a second,
the first open of a first document included). tests/app/store/test_store_schema.py checks that it is
exactly what the migrations make; after adding a migration, regenerate it: `python -m app.store.db --schema`.
"""

from __future__ import annotations

VERSION = "0004"  # the Alembic revision this schema is (db.HEAD)

STATEMENTS: tuple[str, ...] = (
    'CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)',  # noqa: E501
    'CREATE TABLE documents (\n\tid VARCHAR(32) NOT NULL, \n\tpath TEXT, \n\ttitle TEXT, \n\tcreated_at DATETIME NOT NULL, file_hash VARCHAR(64), file_revision INTEGER, \n\tPRIMARY KEY (id)\n)',  # noqa: E501
    'CREATE TABLE nodes (\n\tid VARCHAR(64) NOT NULL, \n\tdocument_id VARCHAR(32) NOT NULL, \n\tkind VARCHAR(16) NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(document_id) REFERENCES documents (id)\n)',  # noqa: E501
    'CREATE TABLE changes (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tdocument_id VARCHAR(32) NOT NULL, \n\tauthor VARCHAR(16) NOT NULL, \n\toperation VARCHAR(16) NOT NULL, \n\tlevel VARCHAR(16), \n\tinstruction TEXT, \n\tmodel TEXT, \n\tparams JSON, \n\tcandidates JSON, \n\tchosen INTEGER, \n\tcreated_at DATETIME NOT NULL, \n\tbase_revision INTEGER, \n\tFOREIGN KEY(document_id) REFERENCES documents (id)\n)',  # noqa: E501
    'CREATE TABLE revisions (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tchange_id INTEGER NOT NULL, \n\tnode_id VARCHAR(64) NOT NULL, \n\tparent_revision_id INTEGER, \n\teffect VARCHAR(8) NOT NULL, \n\tkind VARCHAR(16) NOT NULL, \n\tparent_node_id VARCHAR(64), \n\t"order" TEXT NOT NULL, \n\tlevel INTEGER NOT NULL, \n\ttext TEXT NOT NULL, \n\ttail TEXT NOT NULL, \n\tdeleted BOOLEAN NOT NULL, \n\tFOREIGN KEY(change_id) REFERENCES changes (id), \n\tFOREIGN KEY(node_id) REFERENCES nodes (id), \n\tFOREIGN KEY(parent_revision_id) REFERENCES revisions (id)\n)',  # noqa: E501
    "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes BEGIN SELECT RAISE(ABORT, 'changes are append-only'); END",  # noqa: E501
    "CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes BEGIN SELECT RAISE(ABORT, 'changes are append-only'); END",  # noqa: E501
    "CREATE TRIGGER revisions_no_update BEFORE UPDATE ON revisions BEGIN SELECT RAISE(ABORT, 'revisions are append-only'); END",  # noqa: E501
    "CREATE TRIGGER revisions_no_delete BEFORE DELETE ON revisions BEGIN SELECT RAISE(ABORT, 'revisions are append-only'); END",  # noqa: E501
    'CREATE INDEX ix_revisions_node_id_id ON revisions (node_id, id)',
    'CREATE INDEX ix_revisions_change_id ON revisions (change_id)',
    'CREATE INDEX ix_nodes_document_id ON nodes (document_id)',
    'CREATE INDEX ix_changes_document_id ON changes (document_id)',
    'CREATE INDEX ix_documents_path ON documents (path)',
)

