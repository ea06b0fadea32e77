"""Format augmentation (engine/augment.py): whole documents rewritten, read back exactly by the tree, spans
consistent; the trained instruction forms (engine/instructions.py); the house-style apply rules; headings."""

import random

import pytest

from engine import instructions, tasks
from engine.actions import apply_candidate, make_task
from engine.augment import AugmentPlan, apply_plan, augment, is_augmented, plan_for
from engine.corpus import SourceDoc
from engine.document import Document
from engine.examples import DataConfig, ExampleBuilder
from engine.spans import span_table

DOC = """# Growing Tomatoes

Tomatoes need at least six hours of direct sun a day, and a balcony that faces south gives them that. A large pot, good compost and steady watering do the rest of the work for you.

## Choosing a variety

- Cherry tomatoes fruit early and forgive mistakes.
- Bush varieties stay small.

How much to water them depends on the pot; a rough rule is two litres a day in summer.

```
water = 2  # litres a day
```

## Looking after the plants

Feed them once a week when the first fruit sets. Pinch out the side shoots of cordon varieties, so the plant puts its strength into the fruit rather than into leaves. 1. This is not a list.
"""  # noqa: E501 (one line per paragraph, as the corpus has it)


def kinds(text):
    doc = Document.from_markdown(text)
    assert doc.to_markdown() == text
    return [str(n.kind) for n in doc.walk()]


def test_every_rewrite_reads_back_with_the_same_blocks():
    plan = AugmentPlan(width=60, crlf=True, bullet="*", setext=True, indented_code=True, tabs=True)
    new = apply_plan(DOC, plan)
    assert new != DOC and "\r\n" in new and "* Cherry" in new and "\tw" in new and "Growing Tomatoes\r\n====" in new
    assert max(len(ln) for ln in new.split("\r\n")) <= 60 or "```" in new
    assert kinds(new).count("heading") == kinds(DOC).count("heading") == 3
    assert kinds(new).count("paragraph") == kinds(DOC).count("paragraph")
    assert "block" in kinds(new)  # the list and the code stay blocks: "1." never starts a wrapped line
    assert all(not ln.startswith("1.") for ln in new.split("\r\n"))


def test_augmented_spans_are_consistent_and_round_trip_exactly():
    new = apply_plan(DOC, AugmentPlan(width=64, crlf=True, bullet="+", setext=True, indented_code=True))
    table = span_table(new)  # asserts the exact round trip itself
    doc = Document.from_markdown(new)
    sentences = [n for n in doc.walk() if str(n.kind) == "sentence"]
    assert table.count("sentence") == len(sentences)
    for i in range(table.count("paragraph")):
        row = table.row("paragraph", i)
        middle = new[row.start:row.end]
        assert middle == middle.strip() and "\n" in middle  # wrapped, aligned
        assert new[:row.start] + middle + new[row.end:] == new


def test_choice_is_deterministic_per_document_and_rate():
    ids = [f"doc-{i}" for i in range(2000)]
    share = sum(is_augmented(i, 0.3) for i in ids) / len(ids)
    assert 0.25 < share < 0.35
    assert plan_for("doc-7") == plan_for("doc-7") and plan_for("doc-7").rewrites
    assert augment("doc-x", DOC, 0.0) == DOC
    aug = [i for i in ids if is_augmented(i, 0.3)][0]
    assert augment(aug, DOC, 0.3) == augment(aug, DOC, 0.3) != DOC


def test_trained_instruction_forms_parse_satisfy_and_derive():
    f = instructions.parse("must contain soil and water; around 12 words; starts with In spring; as a list")
    assert instructions.canonical(f) == "include: soil, water; about 12 words; start: In spring; list"
    assert instructions.parse(instructions.canonical(f)) == f
    assert instructions.parse("make it punchier") is None
    ok = instructions.satisfied(f, "- In spring, add soil and water to each pot every few days, then wait")
    assert ok == {"include": True, "length": True, "start": True, "form": True}
    rng = random.Random(0)
    for _ in range(50):
        middle = "Feed them once a week when the first fruit sets on the lower truss."
        forms = instructions.derive(rng, middle, "paragraph")
        assert forms and all(instructions.satisfied(forms, middle).values())


def test_instruction_examples_are_what_make_task_sends():
    cfg = DataConfig(seq_len=2048, instruction_rate=1.0, min_context=16)
    builder = ExampleBuilder(cfg)
    doc = SourceDoc("d", "test", "", DOC)
    rng = random.Random(1)
    seen = 0
    for _ in range(20):
        ex = builder.build(rng, "paragraph", doc, 2048)
        task, _, middle = tasks.parse_example(ex.data)
        assert ex.action == "instruct" and task.old is None
        forms = instructions.parse(task.instruction)
        assert forms and all(instructions.satisfied(forms, middle).values())
        seen += 1
    assert seen
    d = Document.from_markdown(DOC)
    para = next(n for n in d.walk() if str(n.kind) == "paragraph")
    t = make_task(d, para.id, "instruct", "about 30 words; include: balcony")
    assert t.instruction == "include: balcony; about 30 words" and t.old is None
    assert make_task(d, para.id, "instruct", "make it punchier").old is not None  # free text: old text goes in


def test_candidate_in_a_wrapped_crlf_paragraph_is_wrapped_like_its_neighbours():
    md = apply_plan(DOC, AugmentPlan(width=70, crlf=True, bullet="*"))
    d = Document.from_markdown(md)
    sent = [n for n in d.walk() if str(n.kind) == "sentence"][1]
    new = apply_candidate(d, sent.id, "rewrite", "A large pot with good compost, and water every single morning before "
                          "the sun gets hot, does the rest.").to_markdown()
    para = new.split("\r\n\r\n")[1]
    assert "\n" not in para.replace("\r\n", "") and all(len(ln) <= 70 for ln in para.split("\r\n"))
    assert len(para.split("\r\n")) > 1 and "every single morning" in " ".join(para.split())
    head = [n for n in d.walk() if str(n.kind) == "heading"][1]
    body = apply_candidate(d, head.id, "expand", "Pick one.\n\n- Roma\n- Sungold").to_markdown()
    assert "* Roma\r\n* Sungold" in body and "\n- " not in body


@pytest.mark.parametrize("generated, want", [
    ("## A good title\nmore text", "## A good title"),
    ("Growing tomatoes on a city balcony is something many people want to try and it is certainly poss",
     "## Growing tomatoes on a city balcony is something many people want to try and it is certainly"),
    ("Summary of the results.", "## Summary of the results"),
])
def test_heading_candidates_are_one_line_of_sensible_length(generated, want):
    task = tasks.Task("summarise", "heading", "", "", heading_level=2)
    if "poss" in generated:
        generated = generated + "x" * (tasks.max_bytes_for(task) - len(generated))  # ran to the limit
        want = want
    out = tasks.finish(task, generated)
    assert out == want or (len(out) <= 103 and not out.endswith("x"))
    assert "\n" not in out
