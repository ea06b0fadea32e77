"""engine/examples.py + engine/spans.py: every training example is cut by the editor's tree and the
registry's span rules, and its prompt is the editor's prompt (make_task + build_prompt) for that node."""

import itertools
import random

import pytest

from engine.actions import ACTIONS, EXAMPLE_KINDS, Span, make_task, outline_span, span_task
from engine.corpus import SourceDoc, read_jsonl
from engine.document import Document
from engine.examples import DEFAULT_MIXTURE, DataConfig, ExampleBuilder, row_task
from engine.spans import NODE_KINDS, span_table
from engine.tasks import Action, build_prompt, fit, parse, parse_example

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


def _node_id(doc: Document, index: int) -> str:
    """The node at `index` in tree order (as `scriba tree` lists them, root left out)."""
    return [r.id for r in doc.records() if r.parent_id is not None][index]


def _check_node_example(ex, fresh: Document) -> None:
    """The example's middle is the span the editor cuts for its node and action in a fresh parse of the
    text, and its prompt is the editor's prompt for that node with the example's budgets and order."""
    text = fresh.to_markdown()
    node_id = _node_id(fresh, ex.node)
    span = ACTIONS[ex.action].span(fresh, node_id)
    _, order, middle = parse_example(ex.data)
    assert (order, middle) == (ex.order, text[span.start:span.end]), (ex.kind, middle)
    assert span.node_id == node_id and ex.kind in ACTIONS[ex.action].example_kinds
    task = make_task(fresh, node_id, ex.action, prefix_budget=ex.budgets[0], suffix_budget=ex.budgets[1])
    assert ex.data[:ex.target_start] == build_prompt(task, ex.order).data


def _check_outline_example(ex, fresh: Document) -> None:
    """The middle is a run of the editor's outline lines (outline_span) and the prompt is that of the
    heading lines before it, with the example's budgets and order."""
    text = fresh.to_markdown()
    lines = outline_span(fresh).prefix.splitlines(keepends=True)
    parsed, order, middle = parse_example(ex.data)
    hits = [k for k in range(len(lines)) if "".join(lines[k:]).startswith(middle + "\n") and
            build_prompt(fit(span_task(Span("document", len(text), len(text), "".join(lines[:k]), ""),
                                       Action.OUTLINE, parsed.instruction), *ex.budgets), order).data
            == ex.data[:ex.target_start]]
    assert hits, middle
    assert ex.action == "outline" and ex.node is None


def test_example_kinds_are_the_registrys():
    assert set(DEFAULT_MIXTURE) == set(EXAMPLE_KINDS)
    assert {k: (a.name, n) for k, (a, n) in NODE_KINDS.items()} == {
        "sentence": ("rewrite", "sentence"), "paragraph": ("rewrite", "paragraph"),
        "heading": ("summarise", "heading"), "section": ("expand", "heading")}
    with pytest.raises(ValueError):
        DataConfig.from_dict({"mixture": {"plain": 0.5, "limerick": 0.5}})


@pytest.mark.parametrize("action,kind,start,example_kind", [
    ("rewrite", "sentence", "They use", "sentence"),
    ("rewrite", "paragraph", "Second", "paragraph"),
    ("summarise", "heading", "## Birds", "heading"),
    ("rewrite", "heading", "### Crows", "heading"),
    ("expand", "heading", "## Birds", "section"),
])
def test_inference_prompt_equals_training_prompt(action, kind, start, example_kind):
    """make_task on the editor's Document and the training path on the same Markdown agree byte for byte."""
    doc = Document.from_markdown(MD)
    nodes = [n for n in doc.walk() if n.parent is not None]
    index = next(i for i, n in enumerate(nodes) if str(n.kind) == kind and n.text.startswith(start))
    table = span_table(MD)
    row = next(table.row(example_kind, i) for i in range(table.count(example_kind))
               if table.row(example_kind, i).node == index)
    task = make_task(doc, nodes[index].id, action)
    for order in ("psm", "spm"):
        assert build_prompt(task, order).data == build_prompt(fit(row_task(example_kind, row, MD)), order).data
    assert parse(build_prompt(task).data) == task


def test_setext_heading_and_abbreviation_read_as_the_editor_reads_them():
    text = "Title\n=====\n\nIt costs approx. ten euros.\n\n## Next\n\nMore text here.\n"
    table = span_table(text)
    headings = [text[table.row("heading", i).start:table.row("heading", i).end] for i in range(table.count("heading"))]
    assert headings == ["Title\n=====", "## Next"]
    sentences = [text[table.row("sentence", i).start:table.row("sentence", i).end]
                 for i in range(table.count("sentence"))]
    assert sentences == ["It costs approx. ten euros.", "More text here."]
    b = ExampleBuilder(DataConfig(seq_len=512))
    doc = SourceDoc("t", "test", "", text)
    seen = {}
    for seed in range(30):
        for kind in ("heading", "sentence"):
            ex = b.build(random.Random(seed), kind, doc, 512)
            _check_node_example(ex, Document.from_markdown(text))
            seen.setdefault(kind, set()).add(parse_example(ex.data)[2])
    assert seen == {"heading": {"Title\n=====", "## Next"}, "sentence": set(sentences)}


def test_examples_of_every_kind_on_a_small_document():
    b = ExampleBuilder(DataConfig(seq_len=512))
    doc = SourceDoc("d", "test", "", MD * 3)
    rng = random.Random(5)
    for kind in ["sentence", "paragraph", "section", "heading", "outline"] * 6:
        ex = b.build(rng, kind, doc, 512)
        assert ex is not None and len(ex.data) <= 512 and ex.kind == kind
        (_check_outline_example if kind == "outline" else _check_node_example)(ex, Document.from_markdown(doc.text))


def test_short_prefix_examples_keep_a_short_prefix_and_the_full_suffix_room():
    """short_prefix_rate=1: every FIM example with a suffix keeps at most SHORT_PREFIX_BYTES of prefix (its
    heading path aside) and is still the editor's prompt for its node; rate 0 keeps prefixes long."""
    from engine.examples import SHORT_PREFIX_BYTES

    doc = SourceDoc("d", "test", "", MD * 40)
    prefixes = {}
    for rate in (0.0, 1.0):
        b = ExampleBuilder(DataConfig(seq_len=4096, short_prefix_rate=rate))
        rng = random.Random(3)
        sizes = []
        for _ in range(30):
            ex = b.build(rng, "paragraph", doc, 4096)
            task, _, _ = parse_example(ex.data)
            if task.suffix.strip():
                sizes.append(ex.budgets[0])
                _check_node_example(ex, Document.from_markdown(doc.text))
        prefixes[rate] = sizes
    assert prefixes[1.0] and max(prefixes[1.0]) <= SHORT_PREFIX_BYTES
    assert sum(prefixes[0.0]) / len(prefixes[0.0]) > 2 * SHORT_PREFIX_BYTES


def _sample(corpus_dir, per_source: int = 4):
    """The first documents of each corpus source (for classics: whole books)."""
    for f in sorted(corpus_dir.glob("*.jsonl.xz")):
        yield from itertools.islice(read_jsonl(f), per_source)


def test_every_example_over_corpus_documents_is_the_editors_span(corpus_dir):
    """Over a sample of each corpus source: every example built is the editor's span for its node and
    action, and the editor's prompt for it with the same budgets."""
    b = ExampleBuilder(DataConfig(seq_len=2048))
    rng = random.Random(0)
    counts: dict[str, int] = {}
    sources = set()
    for doc in _sample(corpus_dir):
        sources.add(doc.source)
        fresh = Document.from_markdown(doc.text)  # the editor's reading, independent of the builder's
        for kind in ["sentence", "paragraph", "heading", "section", "outline"] * 3:
            ex = b.build(rng, kind, doc, rng.choice([512, 2048]))
            if ex is None:
                continue
            (_check_outline_example if kind == "outline" else _check_node_example)(ex, fresh)
            counts[kind] = counts.get(kind, 0) + 1
    assert len(sources) >= 10
    assert all(counts.get(k, 0) >= 20 for k in ("sentence", "paragraph", "heading", "section", "outline")), counts
