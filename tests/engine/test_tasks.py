"""engine/tasks.py: the byte layout of every writing action, its inverse, stop rules, finishing, budgets."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bytes import (
    BOS,
    CONTROL_BYTES,
    EOS,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    INSTRUCTION,
    OLD,
    SUFFIX_HEAD,
    TASK,
)
from engine.tasks import (
    ACTION_LEVELS,
    Action,
    Task,
    TaskFormatError,
    align,
    build_example,
    build_prompt,
    finish,
    fit,
    heading_path,
    max_bytes_for,
    parse,
    parse_example,
    stop_after_rule,
    stop_rule,
    suffix_head,
    trim_prefix,
    trim_suffix,
)

DOC = """# Field Notes

A premise sentence. Another one here.

## Birds

Crows are clever. They use tools! Do ravens too?

### Crows

Crows remember faces.

## Weather

It rained all week.
"""

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@st.composite
def tasks_(draw):
    action = draw(st.sampled_from(list(Action)))
    level = draw(st.sampled_from(ACTION_LEVELS[action]))
    hl = draw(st.integers(1, 6)) if level in ("heading", "section") else 0
    if action == Action.CONTINUE:
        return Task(action, level, draw(text), "")
    return Task(action, level, draw(text), draw(text), old=draw(st.none() | text),
                instruction=draw(st.none() | text), heading_level=hl)


@settings(max_examples=300, deadline=None)
@given(tasks_(), st.sampled_from(["psm", "spm"]), text)
def test_prompt_and_example_round_trip(task, order, middle):
    prompt = build_prompt(task, order)
    example = build_example(task, middle, order)
    assert example == prompt.data + middle.encode() + bytes([EOS])  # training == inference, byte for byte
    assert parse(prompt.data) == task
    got, got_order, got_middle = parse_example(example)
    if task.action != Action.CONTINUE:
        assert (got, got_order, got_middle) == (task, order, middle)
    else:  # plain text: prefix and middle are one
        assert got.prefix == task.prefix + middle
    assert bytes([EOS]) in prompt.stop and prompt.max_bytes > 0 and prompt.level == task.level


def test_layout_is_exactly_as_documented():
    t = Task(Action.REWRITE, "sentence", "Before ", " after. More\nlines.", old="Old.", instruction="shorter")
    psm = build_prompt(t, "psm").data
    assert psm == (bytes([BOS, TASK]) + b"rewrite:sentence" + bytes([FIM_PREFIX]) + b"Before " + bytes([FIM_SUFFIX])
                   + b" after. More\nlines." + bytes([OLD]) + b"Old." + bytes([INSTRUCTION]) + b"shorter"
                   + bytes([FIM_MIDDLE]))
    spm = build_prompt(t, "spm").data
    assert spm == (bytes([BOS, TASK]) + b"rewrite:sentence" + bytes([FIM_SUFFIX]) + b" after. More\nlines."
                   + bytes([FIM_PREFIX]) + b"Before " + bytes([SUFFIX_HEAD]) + b" after. More" + bytes([OLD])
                   + b"Old." + bytes([INSTRUCTION]) + b"shorter" + bytes([FIM_MIDDLE]))
    assert build_prompt(Task(Action.CONTINUE, "paragraph", "Once upon", "")).data == bytes([BOS]) + b"Once upon"
    assert build_prompt(t).data == spm  # inference reads suffix-prefix-middle
    assert build_prompt(Task(Action.EXPAND, "section", "", "", heading_level=2), "psm").data.startswith(
        bytes([BOS, TASK]) + b"expand:section:2" + bytes([FIM_PREFIX]))
    # no suffix text, no head: the prefix-only prompt of the infill-gain eval ends with the prefix
    bare = build_prompt(Task(Action.REWRITE, "sentence", "Before ", " \n\n"), "spm").data
    assert bare.endswith(bytes([FIM_PREFIX]) + b"Before " + bytes([FIM_MIDDLE]))


def test_suffix_head_is_the_first_line_with_text_cut_at_a_word():
    assert suffix_head("\n\n## Next\n\nBody.") == "\n\n## Next"
    assert suffix_head(" and then.\nMore") == " and then."
    assert suffix_head("   ") == "" and suffix_head("") == ""
    long = " " + "word " * 100
    head = suffix_head(long)
    assert len(head.encode()) <= 160 and head.endswith("word ") and long.startswith(head)


_HEAD = bytes([BOS, TASK])


@pytest.mark.parametrize("bad", [b"", b"x", _HEAD + b"nope:sentence" + bytes([FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]),
                                 _HEAD + b"rewrite:sentence" + bytes([FIM_PREFIX, FIM_MIDDLE]),
                                 _HEAD + b"rewrite:sentence" + bytes([FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]) + b"x",
                                 bytes([BOS]) + b"a" + bytes([EOS]) + b"b",
                                 # the old layout: OLD before the context
                                 _HEAD + b"rewrite:sentence" + bytes([OLD]) + b"o" + bytes([FIM_PREFIX, FIM_SUFFIX,
                                                                                             FIM_MIDDLE]),
                                 # a suffix head that is not the suffix's, or missing, or in PSM
                                 _HEAD + b"rewrite:sentence" + bytes([FIM_SUFFIX]) + b" x." + bytes([FIM_PREFIX])
                                 + bytes([SUFFIX_HEAD]) + b" y." + bytes([FIM_MIDDLE]),
                                 _HEAD + b"rewrite:sentence" + bytes([FIM_SUFFIX]) + b" x." + bytes([FIM_PREFIX])
                                 + bytes([FIM_MIDDLE]),
                                 _HEAD + b"rewrite:sentence" + bytes([FIM_PREFIX, FIM_SUFFIX]) + b" x."
                                 + bytes([SUFFIX_HEAD]) + b" x." + bytes([FIM_MIDDLE])])
def test_parse_refuses_malformed(bad):
    with pytest.raises(TaskFormatError):
        parse_example(bad)


def test_stop_rules_per_level():
    assert stop_rule(Task(Action.REWRITE, "sentence", "", "")) == [bytes([EOS]), b"\n\n"]
    assert stop_rule(Task(Action.REWRITE, "paragraph", "", "")) == [bytes([EOS]), b"\n\n"]
    assert stop_rule(Task(Action.SUMMARISE, "heading", "", "", heading_level=2)) == [bytes([EOS]), b"\n"]
    assert stop_rule(Task(Action.EXPAND, "section", "", "", heading_level=2)) == [bytes([EOS]), b"\n# ", b"\n## "]
    assert stop_rule(Task(Action.CONTINUE, "paragraph", "", "")) == [bytes([EOS]), b"\n\n"]
    assert stop_rule(Task(Action.OUTLINE, "document", "", "")) == [bytes([EOS])]


def test_finish_per_level():
    sent = Task(Action.REWRITE, "sentence", "A. ", " C.")
    assert finish(sent, "  The new one.  And another. ") == "The new one."
    assert finish(sent, "Line one\nline two") == "Line one line two"  # one sentence wrapped over two lines
    assert finish(sent, "Line one\n\nline two") == "Line one"
    para = Task(Action.REWRITE, "paragraph", "", "")
    assert finish(para, "- First. Second\nthird.\n\nNext paragraph") == "First. Second third."
    head = Task(Action.SUMMARISE, "heading", "", "", heading_level=3)
    assert finish(head, "# Birds  of   prey #\nbody") == "### Birds of prey"
    assert finish(head, "Plain title") == "### Plain title"
    assert finish(head, "  \n") == ""
    # cut by the length limit mid-sentence: its first clause, or nothing — never a cut-off sentence
    run_on = "## This document proposes that writing documentation is a required feature, and therefore will be"
    assert finish(head, run_on + " x" * 10) == "### " + run_on[3:run_on.index(",")]
    assert finish(head, "The first example is the sentence. In the third example, you use the sentence as th" * 2) \
        == "### The first example is the sentence"
    assert finish(head, "word " * 30) == ""
    assert finish(head, "A title (with a remark that runs on and on " + "and on " * 12) == "### A title"
    sec = Task(Action.EXPAND, "section", "", "", heading_level=2)
    assert finish(sec, "Body.\n\n\n\n### Sub\n\nMore.\n\n## Next\n\nNo.") == "Body.\n\n### Sub\n\nMore."
    assert finish(sec, "## Straight to a heading") == ""
    cont = Task(Action.CONTINUE, "paragraph", "It rained.", "")
    assert finish(cont, "Then it\nstopped.\n\nNew para") == " Then it stopped."
    assert finish(Task(Action.CONTINUE, "paragraph", "# T\n\n", ""), "  A paragraph.\n\nB") == "A paragraph."
    out = Task(Action.OUTLINE, "document", "", "")
    assert finish(out, "## One\nnoise\n###   Two  \n\n#### \n# Three") == "## One\n### Two\n# Three"


def _aligned_spans(doc: str):
    """Every span training cuts from `doc` (the editor's span rules over its document tree)."""
    from engine.examples import row_task
    from engine.spans import NODE_KINDS, span_table

    table = span_table(doc)
    for kind in NODE_KINDS:
        for i in range(table.count(kind)):
            row = table.row(kind, i)
            yield row_task(kind, row, doc), doc[row.start:row.end]


def test_finish_is_identity_on_real_spans_followed_by_their_stop():
    """What the model was trained to write (the middle) survives finish() unchanged, whatever follows its stop."""
    n = 0
    for task, middle in _aligned_spans(DOC):
        stop = next((s for s in stop_rule(task)[1:]), b"")
        assert finish(task, middle + stop.decode() + "junk\n## x") == middle, (task.level, middle)
        assert finish(task, middle) == middle
        n += 1
    assert n > 10


def test_heading_path():
    assert heading_path(DOC) == ["# Field Notes", "## Weather"]
    assert heading_path(DOC, DOC.index("Crows remember")) == ["# Field Notes", "## Birds", "### Crows"]
    assert heading_path(DOC, DOC.index("## Weather") + 3) == ["# Field Notes", "## Birds", "### Crows"]
    assert heading_path("no headings at all") == []


def test_trim_prefix_keeps_heading_path_and_end():
    text = DOC + "\n".join(f"Line {i} of the weather." for i in range(200))
    out = trim_prefix(text, 300)
    assert len(out.encode()) <= 300
    assert out.startswith("# Field Notes\n\n## Weather\n\n")
    assert text.endswith(out[len("# Field Notes\n\n## Weather\n\n"):])
    body = out[len("# Field Notes\n\n## Weather\n\n"):]
    assert body.startswith("Line ")  # cut at a line boundary
    assert trim_prefix(DOC, 10_000) == DOC


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["# A", "## B", "### C", "word", "ünïcødé 🙂 text", "", "a much longer line " * 5]),
                max_size=40), st.integers(0, 400))
def test_trim_budgets_hold_for_any_text(lines, budget):
    text = "\n".join(lines)
    out = trim_prefix(text, budget)
    assert len(out.encode()) <= budget
    path = heading_path(out) if out != text else []
    assert out == text or any(text.endswith(out[k:]) for k in range(len(out) + 1))
    suf = trim_suffix(text, budget)
    assert len(suf.encode()) <= budget and text.startswith(suf)
    del path


def test_fit_trims_prefix_and_suffix():
    t = Task(Action.REWRITE, "sentence", "x" * 5000, "y" * 5000)
    f = fit(t, 100, 50)
    assert len(f.prefix) <= 100 and len(f.suffix) <= 50 and f.action == t.action


def test_align():
    assert align("  ab c \n", 0, 8) == (2, 6)
    assert align("   ", 0, 3) == (3, 3)


def test_training_examples_decode_to_prompts():
    """Every example the data path builds is an inference prompt of its own task plus the middle and EOS."""
    from engine.corpus import SourceDoc
    from engine.examples import DataConfig, ExampleBuilder

    b = ExampleBuilder(DataConfig(seq_len=512))
    rng = random.Random(3)
    doc = SourceDoc("d", "test", "", DOC * 3)
    for kind in ["sentence", "paragraph", "section", "heading", "outline"] * 5:
        ex = b.build(rng, kind, doc, 512)
        assert ex is not None and len(ex.data) <= 512
        task, order, middle = parse_example(ex.data)
        assert build_example(task, middle, order) == ex.data
        assert ex.data[:ex.target_start] == build_prompt(task, order).data
        assert not any(c in CONTROL_BYTES for c in middle.encode())
        assert finish(task, middle) == middle


def test_a_sentence_of_a_hard_wrapped_paragraph_is_not_cut_at_its_first_line_break():
    task = Task(Action.REWRITE, "sentence", "The policy says that\n", "\nand more.")
    wrapped = "every report is answered\nwithin a week. Then more"
    assert finish(task, wrapped) == "every report is answered within a week."
    assert b".\n" in stop_after_rule(task)


def test_an_outline_cut_by_the_length_limit_drops_its_cut_last_line():
    task = Task(Action.OUTLINE, "document", "", "")
    cap = max_bytes_for(task)
    text = "# Title\n## One\n## Two\n## Part of th"
    generated = text + "x" * (cap - len(text))
    assert finish(task, generated) == "# Title\n## One\n## Two"
    assert finish(task, "# Title\n## One\n## Two") == "# Title\n## One\n## Two"  # ended by EOS: kept whole
