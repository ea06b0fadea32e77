"""File handling without the UI: refusing input, the demo copy, atomic writes, a session with no store."""

from __future__ import annotations

from app.session import Session, demo_copy
from app.sync import atomic_write, content_hash
from app.tui import run_app
from engine.resources import demo_document


def test_run_app_refuses_a_binary_file(tmp_path, capsys):
    path = tmp_path / "image.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert run_app(str(path), db_path=tmp_path / "db") == 1
    err = capsys.readouterr().err
    assert "image.md" in err and "refusing" in err


def test_run_app_refuses_invalid_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.md"
    path.write_bytes("caf\xe9".encode("latin-1"))
    assert run_app(str(path), db_path=tmp_path / "db") == 1
    assert "UTF-8" in capsys.readouterr().err


def test_demo_is_copied_and_the_bundled_copy_kept(tmp_path):
    copy = demo_copy(tmp_path)
    assert copy.read_text() == demo_document().read_text()
    copy.write_text("# mine\n")
    assert demo_copy(tmp_path).read_text() == "# mine\n"  # an existing copy is never overwritten
    assert demo_document().read_text().startswith("# Writing Long Documents")


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a.md"
    assert atomic_write(path, "one\n") == content_hash("one\n")
    atomic_write(path, "two — ü\n")
    assert path.read_text(encoding="utf-8") == "two — ü\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]


def test_session_without_a_store_still_edits_and_saves(essay, tmp_path):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    session = Session.open(essay, bad)
    assert session.store is None and session.store_error
    node = next(n for n in session.doc.walk() if n.text == "## Finishing")
    session.doc.set_text(node.id, "## Done")
    assert session.commit(session.doc, author="writer", operation="edit") == []
    assert session.unrecorded
    session.save()
    assert "## Done\n" in essay.read_text()


def test_session_imports_the_tree_already_parsed_for_the_preview(essay, tmp_path):
    preview = Session.preview_of(essay)
    session = Session.open(essay, tmp_path / "db", parsed=preview.doc)
    try:
        assert session.doc is preview.doc and not session.provisional  # parsed once: the same tree, same ids
        stored, revision = session.store.current(session.doc_id)
        assert stored.records() == preview.doc.records() and revision == session.revision
    finally:
        session.close()
    stale = Session.preview_of(essay)
    essay.write_text(essay.read_text() + "\nA line added meanwhile.\n")
    session = Session.open(essay, tmp_path / "db2", parsed=stale.doc)  # the file changed: parsed again
    try:
        assert session.doc is not stale.doc and session.doc.to_markdown() == essay.read_text()
    finally:
        session.close()
