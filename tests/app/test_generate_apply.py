"""`scriba generate --apply` and the file: another editor's change is merged first, never overwritten;
store and file move together, so a kill at any moment is repaired by the next run in favour of the
accepted revision. Real subprocesses (SIGKILL), a real store, the tiny model with random weights."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.session import Session
from app.store import Store
from app.sync import content_hash
from engine.document import Document

MD = """# Field Notes

A premise sentence. Another one here.

## Birds

Crows are clever. They use tools! Do ravens too?

Second paragraph about birds.
"""
NODE = "They use tools!"
REPO = Path(__file__).resolve().parents[2]


def scriba(*argv: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *argv]


def generate_argv(path: Path, db: Path, model: Path, seed: int, *extra: str, node: str | None = None) -> list[str]:
    """Rewrite `node` (an id; default: NODE by its index in MD, for a store that does not have it yet)."""
    node = node or str([r.text for r in _records(MD)].index(NODE))
    return scriba("generate", str(path), "--db", str(db), "--model", str(model), "--backend", "torch",
                  "--device", "cpu", "--action", "rewrite", "--node", node, "--n", "3", "--seed", str(seed),
                  "--max-bytes", "30", *extra)


def _records(md: str):
    return [r for r in Document.from_markdown(md).records() if r.parent_id is not None]


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "PYTHONHASHSEED": "0"})


def other_editor(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    tmp = path.with_name(path.name + ".other")
    tmp.write_text(text.replace(old, new))
    tmp.replace(path)


def usable_pick(path, db, model, seed) -> int | None:
    """A candidate the tiny random model writes that --apply takes (one line, not empty), if any."""
    done = run(generate_argv(path, db, model, seed, "--json"))
    assert done.returncode == 0, done.stderr
    texts = [c["text"] for c in json.loads(done.stdout)["candidates"]]
    return next((i for i, t in enumerate(texts) if t.strip() and "\n" not in t.strip()), None)


def model_revisions_kept(db: Path, path: Path) -> None:
    """Every accepted model revision is still the node's text, or changed later only by the writer or
    the model, never taken back as an "external" edit."""
    with Store(db) as store:
        info = store.find_document(str(path))
        history = store.history(info.id)
    for i, rev in enumerate(history):
        if rev.author != "model":
            continue
        later = [r for r in history[i + 1:] if r.node_id == rev.node_id]
        assert all(r.author != "external" for r in later), [(r.author, r.text) for r in later]


@pytest.fixture
def notes(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(MD)
    return path, tmp_path / "s.db"


def test_apply_merges_an_edit_made_while_it_generates(notes, tiny_model_dir):
    """The other editor saves the file after generate has read it, while the model loads and writes."""
    path, db = notes
    seed = next(s for s in range(20) if usable_pick(path, db, tiny_model_dir, s) is not None)
    pick = usable_pick(path, db, tiny_model_dir, seed)
    proc = subprocess.Popen(generate_argv(path, db, tiny_model_dir, seed, "--apply", "--pick", str(pick)),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (db.exists() and _imported(db, path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    other_editor(path, "Second paragraph about birds.", "Second paragraph, by the other editor.")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    text = path.read_text()
    assert "Second paragraph, by the other editor." in text and NODE not in text
    with Store(db) as store:
        info = store.find_document(str(path))
        assert store.current(info.id)[0].to_markdown() == text
        assert store.file_hash(info.id) == content_hash(text)
        authors = [r.author for r in store.history(info.id)]
    assert "model" in authors and "external" in authors


def _imported(db: Path, path: Path) -> bool:
    try:
        with Store(db) as store:
            store.find_document(str(path))
        return True
    except Exception:  # noqa: BLE001 - not there yet (or the database is still being created)
        return False


def test_a_kill_between_the_commit_and_the_write_is_repaired_by_the_next_run(notes):
    """The state a kill after the store commit and before the file write leaves (made with the real
    store): the next open takes the store's accepted revision, the next import does not revert it."""
    path, db = notes
    with Store(db) as store:
        info, doc, revision = store.import_current(MD, path=str(path))
        store.set_file_hash(info.id, content_hash(MD), revision)
        node = next(r.id for r in doc.records() if r.text == NODE)
        doc.set_text(node, "They write poems!")
        store.commit(info.id, doc, author="model", operation="rewrite", level="sentence", base_revision=revision)
    assert path.read_text() == MD  # killed before the write
    done = run(scriba("import", str(path), "--db", str(db)))
    assert done.returncode == 0, done.stderr
    model_revisions_kept(db, path)
    session = Session.open(path, db)
    try:
        assert "They write poems!" in session.markdown
        session.save()
    finally:
        session.close()
    assert "They write poems!" in path.read_text()
    model_revisions_kept(db, path)


def test_conflicting_apply_prints_the_candidates_and_one_line(notes, tiny_model_dir):
    """The node itself is changed in the store (another window) while the model writes: exit 1, one
    line, the candidates printed, nothing overwritten."""
    path, db = notes
    seed = next(s for s in range(20) if usable_pick(path, db, tiny_model_dir, s) is not None)
    pick = usable_pick(path, db, tiny_model_dir, seed)
    proc = subprocess.Popen(generate_argv(path, db, tiny_model_dir, seed, "--apply", "--pick", str(pick)),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (db.exists() and _imported(db, path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    with Store(db) as store:  # another window edits the very node, after generate read it
        info = store.find_document(str(path))
        doc, revision = store.current(info.id)
        doc.set_text(next(r.id for r in doc.records() if r.text == NODE), "They use sticks!")
        store.commit(info.id, doc, author="writer", operation="edit", base_revision=revision)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert out.count("--- candidate ") == 3
    assert len(err.splitlines()) == 1 and err.startswith("scriba generate: ") and "Traceback" not in err
    with Store(db) as store:
        assert "They use sticks!" in store.current(info.id)[0].to_markdown()


def test_killed_at_random_moments_never_reverts_an_accepted_revision(notes, tiny_model_dir):
    path, db = notes
    seeds = [s for s in range(30) if usable_pick(path, db, tiny_model_dir, s) is not None][:4]
    assert seeds
    full = time.monotonic()
    done = run(generate_argv(path, db, tiny_model_dir, seeds[0], "--apply", "--pick",
                             str(usable_pick(path, db, tiny_model_dir, seeds[0]))))
    assert done.returncode in (0, 1), done.stderr
    full = time.monotonic() - full
    with Store(db) as store:  # the node by id from now on: the model's rewrites add and remove nodes
        doc = store.current(store.find_document(str(path)).id)[0]
        node = next(r.id for r in doc.records() if r.parent_id is not None and r.kind == "paragraph"
                    and "Crows" in doc.node(r.id).text)
    rng = random.Random(10)
    others = []
    for trial in range(20):
        marker = f"Edited elsewhere {trial}."
        others.append(marker)
        # the other editor rewrites the premise paragraph (the model works in the Birds section)
        other_editor(path, path.read_text().split("\n\n")[1], marker)
        seed = seeds[trial % len(seeds)]
        proc = subprocess.Popen(generate_argv(path, db, tiny_model_dir, seed, "--apply", "--pick", "0",
                                              node=node[:12]),
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.1) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        # the next run: the editor opens the file (and saves it), as the writer would
        session = Session.open(path, db)
        try:
            assert marker in session.markdown, (trial, session.markdown)
            session.save()
        finally:
            session.close()
        assert marker in path.read_text()
        model_revisions_kept(db, path)
    # the last run completes, and then file and store agree
    done = run(generate_argv(path, db, tiny_model_dir, seeds[0], "--apply", "--pick", "0", node=node[:12]))
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    with Store(db) as store:
        info = store.find_document(str(path))
        assert store.current(info.id)[0].to_markdown() == path.read_text()
    model_revisions_kept(db, path)
    assert others[-1] in path.read_text()
