"""CLI hygiene (issue 13, point 7): an unknown word is an unknown command with the nearest one named,
`export --at` past the last revision is refused, and a --db in a missing folder is never created
silently (the writing commands create it and say so; the reading ones create nothing)."""

from __future__ import annotations

import pytest

from app.cli import main

TEXT = "# Trip\n\nWe left at dawn. The road was empty.\n"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRIBA_DB", raising=False)
    (tmp_path / "trip.md").write_text(TEXT, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("word", "near"), [("exprot", "export"), ("imprt", "import"), ("histroy", "history"),
                                            ("gnerate", "generate"), ("hlep", "help"), ("Export", "export")])
def test_a_typo_names_the_nearest_command(capsys, trip, word, near):
    code, out, err = run(capsys, word, "trip.md")
    assert code == 2 and out == ""
    assert err == f"scriba: unknown command {word!r} (did you mean {near!r}?)\n"
    assert not (trip / word).exists()


def test_a_word_like_no_command_says_how_to_start_a_document(capsys, trip):
    code, out, err = run(capsys, "frobnicate")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("scriba: unknown command 'frobnicate' (") and "frobnicate.md" in err
    assert not (trip / "frobnicate").exists() and not list(trip.glob("*.db"))


def test_help_says_which_words_are_files(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping in the middle of the phrases
    for argv in (["--help"], ["help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "ends in .md, .markdown, .txt or contains a /" in out, argv
        assert "any other word must be a command" in out, argv


def test_export_at_beyond_the_last_revision_is_refused(capsys, trip):
    db = str(trip / "s.db")
    assert run(capsys, "import", "trip.md", "--db", db)[0] == 0
    code, out, _ = run(capsys, "history", "trip.md", "--db", db, "--json")
    last = max(r["id"] for r in __import__("json").loads(out))
    code, out, err = run(capsys, "export", "trip.md", "--db", db, "--at", str(last))
    assert code == 0 and out == TEXT
    for at in (last + 1, 999999):
        code, out, err = run(capsys, "export", "trip.md", "--db", db, "--at", str(at))
        assert code == 1 and out == ""
        assert err == f"scriba: no revision {at} yet: the latest is {last} (see scriba history trip.md)\n"
    code, out, err = run(capsys, "export", "trip.md", "--db", db, "--at", "999999", "-o", str(trip / "o.md"))
    assert code == 1 and not (trip / "o.md").exists()


@pytest.mark.parametrize("command", ["export", "history", "tree"])
def test_reading_a_missing_database_creates_nothing(capsys, trip, command):
    for db in (trip / "no" / "such" / "s.db", trip / "new.db"):
        code, out, err = run(capsys, command, "trip.md", "--db", str(db))
        assert code == 1 and out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"scriba: no database at {db}")
        assert not db.exists() and not (trip / "no").exists()
    assert "the folder" in run(capsys, command, "trip.md", "--db", str(trip / "x" / "s.db"))[2]


def test_a_writing_command_creates_a_missing_folder_with_a_message(capsys, trip):
    db = trip / "books" / "2026" / "s.db"
    code, out, err = run(capsys, "import", "trip.md", "--db", str(db))
    assert code == 0 and out.startswith("imported trip.md")
    assert err == f"scriba: created the folder {db.parent} for the new database s.db\n"
    assert db.is_file()
    code, out, err = run(capsys, "import", "trip.md", "--db", str(db))  # the folder is there now: quiet
    assert code == 0 and err == ""


def test_scriba_db_in_a_missing_folder_is_announced_too(capsys, trip, monkeypatch):
    db = trip / "env" / "s.db"
    monkeypatch.setenv("SCRIBA_DB", str(db))
    code, _, err = run(capsys, "import", "trip.md")
    assert code == 0 and err == f"scriba: created the folder {db.parent} for the new database s.db\n"


def test_a_folder_that_cannot_be_created_is_refused(capsys, trip):
    (trip / "plain").write_text("a file, not a folder")
    code, out, err = run(capsys, "import", "trip.md", "--db", str(trip / "plain" / "sub" / "s.db"))
    assert code == 1 and out == "" and err.startswith("scriba import: cannot create the database folder")


def test_store_options_may_come_before_the_command(tmp_path, capsys):
    """`scriba --db X history FILE` runs the history command (it once said "unknown command 'history'")."""
    from app.cli import main

    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nA first line.\n")
    db = str(tmp_path / "s.db")
    assert main(["import", str(doc), "--db", db]) == 0
    capsys.readouterr()
    assert main(["--db", db, "history", str(doc)]) == 0
    out = capsys.readouterr()
    assert "unknown command" not in out.err and "import" in out.out
