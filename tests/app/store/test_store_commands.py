"""`scriba import | export | history | tree` (app/store/queries.py, printed by app/cli/, through app.cli.main):
output, exit codes, export at an old revision, re-import of a changed file; no torch on these paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.cli import main
from app.store import Store

TEXT = "# Trip\n\nWe left at dawn. The road was empty.\n\n## Day one\n\nRain all day.\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBA_DB", str(tmp_path / "cli.db"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trip.md").write_text(TEXT, encoding="utf-8")
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_export_history_tree(env, capsys):
    code, out, _ = run(capsys, "import", "trip.md")
    assert code == 0 and out.startswith("imported trip.md as document ")
    doc_id = out.split("document ")[1].split()[0]

    code, out, _ = run(capsys, "export", "trip.md")
    assert code == 0 and out == TEXT
    assert run(capsys, "export", doc_id[:8], "-o", "copy/out.md")[0] == 0
    assert (env / "copy" / "out.md").read_text(encoding="utf-8") == TEXT

    code, out, _ = run(capsys, "tree", "trip.md")
    assert code == 0 and "Trip" in out.splitlines()[0] and "Rain all day." in out

    code, out, _ = run(capsys, "history", "trip.md", "--json")
    rows = json.loads(out)
    assert code == 0 and rows and {r["author"] for r in rows} == {"import"}
    code, out, _ = run(capsys, "history", str(env / "trip.md"))
    assert code == 0 and "import" in out and len(out.splitlines()) == len(rows) + 1


def test_reimport_and_export_at_an_old_revision(env, capsys):
    assert run(capsys, "import", "trip.md")[0] == 0
    code, out, _ = run(capsys, "import", "trip.md")
    assert code == 0 and "unchanged" in out
    rev0 = json.loads(run(capsys, "history", "trip.md", "--json")[1])[-1]["id"]

    changed = TEXT.replace("Rain all day.", "Sun, then rain.")
    (env / "trip.md").write_text(changed, encoding="utf-8")
    code, out, _ = run(capsys, "import", "trip.md")
    assert code == 0 and "external revision" in out
    rows = json.loads(run(capsys, "history", "trip.md", "--json")[1])
    assert rows[-1]["author"] == "external" and rows[-1]["id"] > rev0

    assert run(capsys, "export", "trip.md")[1] == changed
    assert run(capsys, "export", "trip.md", "--at", str(rev0))[1] == TEXT
    node = rows[-1]["node_id"]
    code, out, _ = run(capsys, "history", "trip.md", "--node", node[:8], "--json")
    assert code == 0 and [r["author"] for r in json.loads(out)][-1] == "external"
    with Store(env / "cli.db") as s:
        assert len(s.documents()) == 1


def test_refusals_exit_1_with_one_line(env, capsys):
    (env / "bin.md").write_bytes(b"\x00\x01\x02\xff\xfe binary")
    for argv in (("import", "missing.md"), ("import", "bin.md"), ("export", "nothing.md"),
                 ("history", "nothing.md"), ("tree", "nothing.md")):
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert out == "" and err.count("\n") == 1 and err.startswith("scriba: "), (argv, err)
    run(capsys, "import", "trip.md")
    code, _, err = run(capsys, "history", "trip.md", "--node", "zzzz")
    assert code == 1 and "no node" in err
    assert run(capsys, "export", "trip.md", "--at", "0")[0] == 2
    assert run(capsys, "export")[0] == 2  # argparse: missing DOC


def test_store_commands_do_not_import_torch(tmp_path):
    code = ("import sys, app.store, app.store.queries, app.store.repository, app.cli.import_, app.cli.export, "
            "app.cli.history, app.cli.tree; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
