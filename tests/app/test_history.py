"""app/history.py: the writer's accepted changes in the store -> training pairs (and JSON lines of them)."""

import json
import random

import pytest

from app.history import history_pairs, write_history_jsonl
from app.store.repository import Store
from engine.actions import apply_candidate
from engine.corpus import read_history_jsonl
from engine.examples import DataConfig, ExampleBuilder
from engine.tasks import build_prompt, parse_example

MD = """# Field Notes

A premise sentence. Another one here.

## Birds

Crows are clever. They use tools! Do ravens too?

Second paragraph about birds.

### Crows

Crows remember faces.

## Weather

It rained all week.
"""


def _find(doc, kind, startswith):
    for n in doc.walk():
        if str(n.kind) == kind and n.text.startswith(startswith):
            return n
    raise AssertionError((kind, startswith))


@pytest.fixture()
def db(tmp_path):
    """A store with one document, a model rewrite (with an instruction) and a writer's heading edit."""
    db = tmp_path / "h.db"
    with Store(db) as store:
        info = store.import_document(MD, path=str(tmp_path / "n.md"))
        cur, rev = store.current(info.id)
        node = _find(cur, "sentence", "They use")
        new = apply_candidate(cur, node.id, "rewrite", "They build tools.")
        store.commit(info.id, new, author="model", operation="rewrite", level="sentence", instruction="simpler",
                     candidates=["They build tools."], chosen=0, base_revision=rev)
        cur, rev = store.current(info.id)
        head = _find(cur, "heading", "## Weather")
        new = apply_candidate(cur, head.id, "summarise", "## Climate")
        store.commit(info.id, new, author="writer", operation="edit", level="heading", base_revision=rev)
    return db


def test_history_pairs_from_the_store(db):
    pairs = history_pairs(db)
    assert len(pairs) == 2
    p = pairs[0]
    assert (p.before[p.start:p.end], p.after, p.action, p.level, p.instruction) == (
        "They use tools!", "They build tools.", "rewrite", "sentence", "simpler")
    q = pairs[1]
    assert (q.before[q.start:q.end], q.after, q.action, q.heading_level) == ("## Weather", "## Climate", "summarise", 2)
    assert q.before.startswith("# Field Notes") and "They build tools." in q.before
    assert history_pairs(db, authors=("writer",)) == [q]


def test_history_jsonl_round_trips_and_trains_as_the_prompt(db, tmp_path):
    out = tmp_path / "pairs.jsonl"
    assert write_history_jsonl(db, out) == 2
    pairs = read_history_jsonl(out)
    assert pairs == history_pairs(db)
    assert json.loads(out.read_text().splitlines()[0])["instruction"] == "simpler"
    ex = ExampleBuilder(DataConfig(seq_len=1024)).history(random.Random(0), pairs[0], 1024)
    task, order, middle = parse_example(ex.data)
    assert (ex.kind, ex.action, middle, task.old, task.instruction) == (
        "history", "rewrite", "They build tools.", "They use tools!", "simpler")
    assert ex.data[:ex.target_start] == build_prompt(task, order).data


def test_a_writer_edit_redone_a_moment_later_is_left_out(db, monkeypatch):
    """A heading half-typed and fixed seconds later is one change to learn from, the fixed one; an edit made
    after the window, or one only moving the node, keeps the earlier edit."""
    with Store(db) as store:
        (info,) = store.documents()
        for text in ("## Climat# Weather", "## Climate and rain"):  # a slip, then the fix
            cur, rev = store.current(info.id)
            head = _find(cur, "heading", "## Clim")
            store.commit(info.id, apply_candidate(cur, head.id, "summarise", text), author="writer", operation="edit",
                         level="heading", base_revision=rev)
    headings = [p.after for p in history_pairs(db) if p.level == "heading"]
    assert headings == ["## Climate and rain"]  # the first edit (## Climate) and the slip were redone within 60 s
    import app.history

    monkeypatch.setattr(app.history, "SUPERSEDED_S", -1.0)
    assert [p.after for p in history_pairs(db) if p.level == "heading"] == [
        "## Climate", "## Climat# Weather", "## Climate and rain"]
