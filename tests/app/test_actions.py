"""app/actions.py: Document node + action -> Task (the same bytes training uses), candidate -> Document,
history -> training pairs, and `scriba generate`."""

import argparse
import json

import pytest

pytest.importorskip("engine.document")

from app.actions import (ActionRefused, apply_candidate, changed_nodes, cmd_generate, history_pairs,  # noqa: E402
                         make_task, resolve_node)
from engine.document import Document  # noqa: E402
from engine.data import scan, sentence_spans  # noqa: E402
from engine.tasks import Action, Task, build_prompt, finish, fit, parse  # noqa: E402

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


def _training_task(md, level, middle):
    """The task the data path (engine/data.py's scan, no app code) builds for the span holding `middle`."""
    s = scan(md)
    if level == "sentence":
        spans = [sp for a, b in s.paragraphs for sp in sentence_spans(md, a, b)]
        (a, b), = [sp for sp in spans if md[sp[0]:sp[1]] == middle]
        return Task(Action.REWRITE, "sentence", md[:a], md[b:])
    if level == "paragraph":
        (a, b), = [sp for sp in s.paragraphs if md[sp[0]:sp[1]] == middle]
        return Task(Action.REWRITE, "paragraph", md[:a], md[b:])
    if level == "heading":
        (a, b, lvl), = [h for h in s.headings if md[h[0]:h[1]] == middle]
        return Task(Action.SUMMARISE, "heading", md[:a], md[b:], heading_level=lvl)
    if level == "section":
        (a, b, lvl), = [h for h in s.sections if md[:h[0]].rstrip().endswith(middle)]
        return Task(Action.EXPAND, "section", md[:a], md[b:], heading_level=lvl)
    raise AssertionError(level)


@pytest.mark.parametrize("action,kind,start,level,middle", [
    ("rewrite", "sentence", "They use", "sentence", "They use tools!"),
    ("rewrite", "paragraph", "", "paragraph", "Second paragraph about birds."),
    ("summarise", "heading", "## Birds", "heading", "## Birds"),
    ("rewrite", "heading", "### Crows", "heading", "### Crows"),
    ("expand", "heading", "## Birds", "section", "## Birds"),
])
def test_inference_prompt_equals_training_prompt(doc, action, kind, start, level, middle):
    """make_task on a Document and the data path on the same Markdown agree byte for byte."""
    if kind == "paragraph":
        node = next(n for n in doc.walk() if str(n.kind) == "paragraph" and "Second" in MD[slice(*doc.span(n.id))])
    else:
        node = _find(doc, kind, start)
    task = make_task(doc, node.id, action)
    expected = fit(_training_task(MD, level, middle))
    for order in ("psm", "spm"):
        assert build_prompt(task, order).data == build_prompt(expected, order).data
    assert parse(build_prompt(task).data) == task


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
    ids = [r.id for r in doc.records() if r.parent_id is not None]
    assert resolve_node(doc, "0") == ids[0] and resolve_node(doc, "3") == ids[3]
    assert resolve_node(doc, ids[2][:10]) == ids[2] and resolve_node(doc, ids[4]) == ids[4]
    with pytest.raises(ActionRefused):
        resolve_node(doc, "999")
    with pytest.raises(ActionRefused):
        resolve_node(doc, "zzzz")
    assert changed_nodes(doc, doc) == []


def _args(path, db, **kw):
    ns = dict(file=str(path), action="rewrite", node=None, n=2, seed=1, temperature=0.8, top_p=0.95, max_bytes=40,
              instruction=None, json=True, apply=False, pick=0, db=str(db), model=None, backend="torch",
              device="cpu")
    ns.update(kw)
    return argparse.Namespace(**ns)


def test_cmd_generate_and_apply_records_a_model_revision(tmp_path, tiny_model_dir, capsys):
    pytest.importorskip("app.store.repository")
    path = tmp_path / "notes.md"
    path.write_text(MD)
    db = tmp_path / "s.db"
    d = Document.from_markdown(MD)
    idx = [i for i, r in enumerate(r for r in d.records() if r.parent_id is not None) if r.text == "They use tools!"][0]
    # without --apply and without a store: nothing is written
    assert cmd_generate(_args(path, db, node=str(idx), model=str(tiny_model_dir))) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["candidates"]) == 2 and out["applied"] is None and not db.exists()
    assert all("\n" not in c["text"] for c in out["candidates"])
    # --apply with a forced short candidate from the tiny random model: record it (if not empty)
    rc = cmd_generate(_args(path, db, node=str(idx), model=str(tiny_model_dir), apply=True, seed=3, max_bytes=30))
    res = capsys.readouterr()
    if rc == 0:
        out = json.loads(res.out)
        assert out["applied"]["revisions"]
        from app.store.repository import Store

        with Store(db) as store:
            info = store.find_document(str(path))
            revs = store.history(info.id)
            assert revs[-1].author == "model" and revs[-1].operation == "rewrite" and revs[-1].level == "sentence"
            assert store.current(info.id)[0].to_markdown() == path.read_text()
    else:
        assert "empty" in res.err  # a random model may write nothing usable: refused, nothing recorded


def test_cmd_generate_refusals(tmp_path, capsys):
    path = tmp_path / "x.md"
    path.write_bytes(b"\x00\x01binary")
    assert cmd_generate(_args(path, tmp_path / "s.db", node="0")) == 1
    path.write_text(MD)
    assert cmd_generate(_args(path, tmp_path / "s.db", node="999")) == 1
    assert cmd_generate(_args(path, tmp_path / "s.db", action="expand", node=None)) == 2
    assert cmd_generate(_args(path, tmp_path / "s.db", node="0", model=str(tmp_path / "nomodel"))) == 1


def test_history_pairs_from_the_store(tmp_path, doc):
    pytest.importorskip("app.store.repository")
    from app.store.repository import Store

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
    pairs = history_pairs(db)
    assert len(pairs) == 2
    p = pairs[0]
    assert (p.before[p.start:p.end], p.after, p.action, p.level, p.instruction) == (
        "They use tools!", "They build tools.", "rewrite", "sentence", "simpler")
    q = pairs[1]
    assert (q.before[q.start:q.end], q.after, q.action, q.heading_level) == ("## Weather", "## Climate", "summarise", 2)
    assert q.before.startswith("# Field Notes") and "They build tools." in q.before
