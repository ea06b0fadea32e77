"""The writing service (app/writing.py) and `scriba generate`: node + action -> proposal (the prompt, the
same caps everywhere), candidate -> Document, and accepting one against the revision it was proposed on
(merged with newer changes to other nodes, a conflict for the same node), through a real store and a
real tiny engine."""

from __future__ import annotations

import argparse
import json
import sqlite3

import pytest

from app import writing
from app.cli import generate as generate_cmd
from app.session import Session
from app.store.errors import ConflictError
from app.store.repository import Store
from app.sync import content_hash
from app.tui.app import ScribaApp
from engine.actions import ActionRefused, apply_candidate, changed_nodes, make_task
from engine.document import Document
from engine.tasks import Action, build_prompt, finish

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


@pytest.fixture()
def doc():
    return Document.from_markdown(MD)


def _find(doc, kind, startswith):
    for n in doc.walk():
        if str(n.kind) == kind and n.text.startswith(startswith):
            return n
    raise AssertionError((kind, startswith))


# ---------------------------------------------------------------------------------------- tasks and candidates
def test_rewrite_with_instruction_carries_old_text(doc):
    node = _find(doc, "sentence", "They use")
    task = make_task(doc, node.id, "rewrite", "more vivid")
    assert task.old == "They use tools!" and task.instruction == "more vivid"
    assert make_task(doc, node.id, "rewrite").old is None


def test_summarise_from_inside_a_section_targets_its_heading(doc):
    sent = _find(doc, "sentence", "Crows remember")
    task = make_task(doc, sent.id, "summarise")
    assert task.heading_level == 3 and task.prefix.endswith("Second paragraph about birds.\n\n")
    assert task.suffix.startswith("\n\nCrows remember")


def test_continue_and_outline_tasks(doc):
    sent = _find(doc, "sentence", "They use")
    t = make_task(doc, sent.id, "continue")
    assert t.action == Action.CONTINUE and t.prefix.endswith("They use tools!") and t.suffix == ""
    assert build_prompt(t).data == b"\xf5" + t.prefix.encode()
    head = _find(doc, "heading", "## Weather")
    assert make_task(doc, head.id, "continue").prefix.endswith("## Weather\n\n")
    o = make_task(doc, None, "outline", "A field guide to birds and weather")
    assert o.prefix == "# Field Notes\n## Birds\n### Crows\n## Weather\n" and o.instruction.startswith("A field")


def test_block_cannot_be_rewritten():
    d = Document.from_markdown("# T\n\n- a list\n- b\n")
    block = next(n for n in d.walk() if str(n.kind) == "block")
    with pytest.raises(ActionRefused):
        make_task(d, block.id, "rewrite")


def test_apply_rewrite_sentence_keeps_other_ids(doc):
    node = _find(doc, "sentence", "They use")
    task = make_task(doc, node.id, "rewrite")
    text = finish(task, " They even make tools! And more.")
    new, changed = apply_candidate(doc, node.id, "rewrite", text, with_changes=True)
    assert new.to_markdown() == MD.replace("They use tools!", "They even make tools!")
    assert doc.to_markdown() == MD  # the input is untouched
    assert node.id in changed and len(changed) <= 2
    kept = {r.id for r in doc.records()} & {r.id for r in new.records()}
    assert len(kept) == len(doc.records())


def test_apply_summarise_expand_continue_outline(doc):
    head = _find(doc, "heading", "## Birds")
    t = make_task(doc, head.id, "summarise")
    new = apply_candidate(doc, head.id, "summarise", finish(t, "On Birds\nxx"))
    assert "\n## On Birds\n" in new.to_markdown()

    t = make_task(doc, head.id, "expand")
    body = finish(t, "Birds are everywhere.\n\n### Ravens\n\nRavens too.\n\n## Next")
    new = apply_candidate(doc, head.id, "expand", body)
    assert new.to_markdown() == MD.replace(MD[MD.index("Crows are"):MD.index("\n\n## Weather")], body)

    sent = _find(doc, "sentence", "It rained")
    t = make_task(doc, sent.id, "continue")
    new = apply_candidate(doc, sent.id, "continue", finish(t, "Then it stopped.\n\nX"))
    assert new.to_markdown().endswith("It rained all week. Then it stopped.\n")

    para_head = _find(doc, "heading", "## Weather")
    new = apply_candidate(doc, para_head.id, "continue", "A new first paragraph.")
    assert "## Weather\n\nA new first paragraph.\n\nIt rained" in new.to_markdown()

    new, changed = apply_candidate(doc, None, "outline", "## Climate\n### Rain", with_changes=True)
    assert new.to_markdown().endswith("It rained all week.\n\n## Climate\n\n### Rain\n")
    new_ids = {r.id for r in new.records()} - {r.id for r in doc.records()}
    assert len(new_ids) == 2 and new_ids <= set(changed)  # + the old last paragraph, whose tail grew


def test_apply_into_an_empty_section():
    d = Document.from_markdown("# T\n\n## Empty\n\n## Next\n\nText.\n")
    head = _find(d, "heading", "## Empty")
    t = make_task(d, head.id, "expand")
    assert t.prefix.endswith("## Empty\n\n") and t.suffix.startswith("\n\n## Next")
    new = apply_candidate(d, head.id, "expand", "Now with a body.")
    assert new.to_markdown() == "# T\n\n## Empty\n\nNow with a body.\n\n## Next\n\nText.\n"


def test_resolve_node(doc):
    resolve_node = writing.resolve_node
    ids = [r.id for r in doc.records() if r.parent_id is not None]
    assert resolve_node(doc, "0") == ids[0] and resolve_node(doc, "3") == ids[3]
    assert resolve_node(doc, ids[2][:10]) == ids[2] and resolve_node(doc, ids[4]) == ids[4]
    with pytest.raises(ActionRefused):
        resolve_node(doc, "999")
    with pytest.raises(ActionRefused):
        resolve_node(doc, "zzzz")
    assert changed_nodes(doc, doc) == []




# ---------------------------------------------------------------------------------------- proposals
@pytest.mark.parametrize("action,kind,start,level", [
    ("rewrite", "sentence", "They use", "sentence"),
    ("summarise", "heading", "## Birds", "heading"),
    ("expand", "heading", "## Birds", "section"),
    ("continue", "sentence", "It rained", "paragraph"),
])
def test_proposal_caps_max_bytes_at_the_level_cap(doc, action, kind, start, level):
    node = _find(doc, kind, start)
    cap = build_prompt(make_task(doc, node.id, action)).max_bytes
    over = writing.propose(doc, node.id, action, sampling=writing.Sampling(max_bytes=cap * 10))
    assert over.task.level == level
    assert over.params["max_bytes"] == over.request.max_bytes == cap
    under = writing.propose(doc, node.id, action, sampling=writing.Sampling(max_bytes=7))
    assert under.params["max_bytes"] == under.request.max_bytes == 7
    default = writing.propose(doc, node.id, action)
    assert default.request.max_bytes == cap and default.request.stop == build_prompt(default.task).stop


def test_the_cli_and_the_editor_make_the_same_proposal(doc):
    """`scriba generate`'s options and the editor's sampling settings make the same request."""
    node = _find(doc, "sentence", "They use")
    args = _parse(["x.md", "--action", "rewrite", "--node", node.id, "--n", "2", "--seed", "5", "--max-bytes",
                   "100000"])
    from_cli = writing.propose(doc, writing.resolve_node(doc, args.node), args.action, args.instruction,
                               generate_cmd.sampling(args))
    editor = ScribaApp("x.md", load_engine=False, n_candidates=2, seed=5, max_bytes=100000)  # not run: its settings
    from_tui = writing.propose(doc, node.id, "rewrite", None, editor.options.sampling)
    assert from_cli.request == from_tui.request and from_cli.params == from_tui.params
    assert from_cli.params["max_bytes"] == 600  # the sentence level's cap, not the 100000 asked for


def test_instruction_and_whole_document_actions(doc):
    node = _find(doc, "sentence", "They use")
    p = writing.propose(doc, node.id, "instruct", "shorter")
    assert (p.operation, p.instruction, p.task.old) == ("rewrite", "shorter", "They use tools!")
    assert writing.propose(doc, node.id, "continue", "ignored").instruction is None
    o = writing.propose(doc, node.id, "outline", "birds")
    assert o.node_id is None and o.operation == "outline"
    head = _find(doc, "heading", "## Birds")
    assert writing.propose(doc, head.id, "rewrite").operation == "summarise"  # a heading is rewritten as that
    with pytest.raises(ActionRefused):
        writing.propose(doc, head.id, "no-such-action")


# ---------------------------------------------------------------------------------------- accepting, concurrently
def _nonempty(texts):
    """The index of the first usable candidate (the tiny model writes random bytes)."""
    return next(i for i, t in enumerate(texts) if t.strip() and "\n" not in t.strip())


@pytest.fixture()
def stored(tmp_path):
    store = Store(tmp_path / "w.db")
    info = store.import_document(MD, path=str(tmp_path / "notes.md"))
    yield store, info.id
    store.close()


def _propose_and_run(store, doc_id, engine, start, seed=1):
    doc, rev = store.current(doc_id)
    node = _find(doc, "sentence", start)
    proposal = writing.propose(doc, node.id, "rewrite", sampling=writing.Sampling(n=4, seed=seed, max_bytes=40),
                               base_revision=rev)
    texts = writing.finish_candidates(proposal, writing.generate(engine, proposal))
    return node, proposal, texts


def test_accept_merges_a_concurrent_change_to_another_node(stored, tiny_engine):
    store, doc_id = stored
    node, proposal, texts = _propose_and_run(store, doc_id, tiny_engine, "They use")
    # meanwhile another window edits another node, on the same base revision
    other, rev = store.current(doc_id)
    weather = _find(other, "sentence", "It rained")
    other.set_text(weather.id, "It snowed all week.")
    store.commit(doc_id, other, author="writer", operation="edit", level="sentence", base_revision=rev)

    pick = _nonempty(texts)
    accepted = writing.accept(proposal, texts, pick, store, doc_id, model="tiny")
    md = store.current(doc_id)[0].to_markdown()
    assert accepted.document.to_markdown() == md
    assert "It snowed all week." in md and "They use tools!" not in md  # both changes, nothing reverted
    assert accepted.document.node(node.id).text.startswith(texts[pick].strip())
    assert accepted.focus == node.id and node.id in accepted.changed
    last = store.history(doc_id)[-1]
    assert (last.author, last.operation, last.chosen, last.model, last.base_revision) == (
        "model", "rewrite", pick, "tiny", proposal.base_revision)
    assert last.params["max_bytes"] == 40 and last.candidates == texts


def test_accept_refuses_when_the_same_node_changed_meanwhile(stored, tiny_engine):
    store, doc_id = stored
    node, proposal, texts = _propose_and_run(store, doc_id, tiny_engine, "They use")
    other, rev = store.current(doc_id)
    other.set_text(node.id, "They forge tools!")
    store.commit(doc_id, other, author="writer", operation="edit", level="sentence", base_revision=rev)
    with pytest.raises(ConflictError) as refused:
        writing.accept(proposal, texts, _nonempty(texts), store, doc_id, model="tiny")
    message = str(refused.value)
    assert "\n" not in message and "changed after revision" in message and node.id[:8] in message
    assert store.current(doc_id)[0].node(node.id).text == "They forge tools!"  # never silently overwritten


def test_session_accept_and_hand_edits_merge_with_another_window(tmp_path, tiny_engine):
    """Two sessions (two windows) on one file and one store: each commit is made against the session's
    base revision, merges with the other's changes to other nodes, and refuses the same node."""
    path, db = tmp_path / "notes.md", tmp_path / "s.db"
    path.write_text(MD)
    a, b = Session.open(path, db), Session.open(path, db)
    try:
        ra = _find(a.doc, "sentence", "It rained")
        a.doc.set_text(ra.id, "It snowed all week.")
        a.commit(a.doc, author="writer", operation="edit", level="sentence")
        # b still shows the old text; its own edit elsewhere merges, and b then shows both
        rb = _find(b.doc, "sentence", "Crows remember")
        b.doc.set_text(rb.id, "Crows remember every face.")
        assert b.commit(b.doc, author="writer", operation="edit", level="sentence")
        assert "It snowed all week." in b.markdown and "Crows remember every face." in b.markdown
        assert b.revision == b.store.current(b.doc_id)[1] and not b.unrecorded

        # a proposes while b rewrites the same sentence: a's accept is refused, a then shows b's text
        target = _find(a.doc, "sentence", "They use")
        proposal = writing.propose(a.doc, target.id, "rewrite", sampling=writing.Sampling(n=4, seed=1, max_bytes=40),
                                   base_revision=a.revision)
        texts = writing.finish_candidates(proposal, writing.generate(tiny_engine, proposal))
        b.doc.set_text(target.id, "They forge tools!")
        b.commit(b.doc, author="writer", operation="edit", level="sentence")
        with pytest.raises(ConflictError):
            a.accept(proposal, texts, _nonempty(texts), model="tiny")
        assert a.doc.node(target.id).text == "They forge tools!" and "Crows remember every face." in a.markdown

        # a proposes again, b edits another node before a accepts: merged
        proposal = writing.propose(a.doc, target.id, "rewrite", sampling=writing.Sampling(n=4, seed=1, max_bytes=40),
                                   base_revision=a.revision)
        texts = writing.finish_candidates(proposal, writing.generate(tiny_engine, proposal))
        other = _find(b.doc, "sentence", "Second paragraph")
        b.doc.set_text(other.id, "A second paragraph.")
        b.commit(b.doc, author="writer", operation="edit", level="sentence")
        accepted = a.accept(proposal, texts, _nonempty(texts), model="tiny")
        assert accepted.revisions and a.doc is accepted.document
        assert "A second paragraph." in a.markdown and "They forge tools!" not in a.markdown
        assert a.markdown == a.store.current(a.doc_id)[0].to_markdown()
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------- scriba generate
def _parse(argv):
    parser = argparse.ArgumentParser(prog="scriba")
    generate_cmd.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args([generate_cmd.NAME, *argv])


def _cli(path, db, *argv):
    return generate_cmd.run(_parse([str(path), "--db", str(db), "--backend", "torch", "--device", "cpu", *argv]))


def _index(text):
    d = Document.from_markdown(MD)
    return str([i for i, r in enumerate(r for r in d.records() if r.parent_id is not None) if r.text == text][0])


def test_generate_and_apply_records_a_model_revision(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "notes.md"
    path.write_text(MD)
    db = tmp_path / "s.db"
    node = _index("They use tools!")
    # without --apply and without a store: nothing is written
    model = ["--model", str(tiny_model_dir)]
    assert _cli(path, db, "--action", "rewrite", "--node", node, *model, "--n", "2", "--seed", "1",
                "--max-bytes", "40", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["candidates"]) == 2 and out["applied"] is None and not db.exists()
    assert all("\n" not in c["text"] for c in out["candidates"])
    # --apply with a forced short candidate from the tiny random model: record it (if not empty)
    rc = _cli(path, db, "--action", "rewrite", "--node", node, *model, "--n", "2", "--seed", "3",
              "--max-bytes", "30", "--json", "--apply")
    res = capsys.readouterr()
    out = json.loads(res.out)  # the candidates are printed in every case
    if rc == 0:
        assert out["applied"]["revisions"]
        with Store(db) as store:
            info = store.find_document(str(path))
            revs = store.history(info.id)
            assert revs[-1].author == "model" and revs[-1].operation == "rewrite" and revs[-1].level == "sentence"
            assert store.current(info.id)[0].to_markdown() == path.read_text()
            assert store.file_hash(info.id) == content_hash(path.read_bytes())
    else:
        assert "empty" in res.err and out["applied"] is None  # a random model may write nothing usable


def test_generate_max_bytes_over_the_cap_is_capped(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "notes.md"
    path.write_text(MD)
    db = tmp_path / "s.db"
    common = ["--action", "rewrite", "--node", _index("They use tools!"), "--model", str(tiny_model_dir),
              "--n", "3", "--seed", "2", "--max-bytes", "100000", "--json"]
    assert _cli(path, db, *common) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(c["nbytes"] <= 600 for c in out["candidates"])
    pick = _nonempty([c["text"] for c in out["candidates"]])
    assert _cli(path, db, *common, "--apply", "--pick", str(pick)) == 0
    capsys.readouterr()
    with Store(db) as store:
        [info] = store.documents()
        assert store.history(info.id)[-1].params["max_bytes"] == 600  # the sentence level's cap


def test_generate_reports_a_locked_store_after_printing_the_candidates(tmp_path, tiny_model_dir, capsys):
    """Another process holds the store's write lock when the candidate is to be recorded: exit 1 with
    one line, the candidates on standard output, the file untouched."""
    path = tmp_path / "notes.md"
    path.write_text(MD)
    db = tmp_path / "s.db"
    with Store(db) as store:
        store.import_document(MD, path=str(path))
    common = ["--action", "rewrite", "--node", _index("They use tools!"), "--model", str(tiny_model_dir),
              "--n", "3", "--seed", "2", "--max-bytes", "40"]
    assert _cli(path, db, *common, "--json") == 0  # the same seed writes the same candidates again
    pick = _nonempty([c["text"] for c in json.loads(capsys.readouterr().out)["candidates"]])
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # a writer that never finishes (readers still read: WAL)
    try:
        rc = _cli(path, db, *common, "--apply", "--pick", str(pick))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    res = capsys.readouterr()
    assert rc == 1 and path.read_text() == MD
    assert res.out.count("--- candidate ") == 3
    assert len(res.err.splitlines()) == 1 and res.err.startswith("scriba generate: ")
    assert "locked" in res.err


def test_generate_refusals(tmp_path, capsys):
    path = tmp_path / "x.md"
    path.write_bytes(b"\x00\x01binary")
    db = tmp_path / "s.db"
    assert _cli(path, db, "--action", "rewrite", "--node", "0") == 1
    path.write_text(MD)
    assert _cli(path, db, "--action", "rewrite", "--node", "999") == 1
    assert _cli(path, db, "--action", "expand") == 2
    assert _cli(path, db, "--action", "instruct", "--node", "0") == 2
    assert _cli(path, db, "--action", "rewrite", "--node", "0", "--model", str(tmp_path / "nomodel")) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("scriba generate: ") for line in err)
