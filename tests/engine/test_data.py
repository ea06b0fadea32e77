"""engine/corpus.py, engine/spans.py, engine/data.py: reading, the split, the span tables, the example mixture,
packing, resumable streams."""

import json
import lzma
import random
from collections import Counter

import pytest

from engine.bytes import BOS, CONTROL_BYTES, EOS
from engine.corpus import SourceDoc, corpus_dir, is_validation, iter_documents, read_folder, read_jsonl, split_documents
from engine.data import ExampleStream, Loader, StreamState, validation_set
from engine.examples import DataConfig, ExampleBuilder
from engine.protocol import HistoryPair
from engine.spans import span_table, span_tables
from engine.tasks import Action, build_prompt, parse_example

DOC = """# Notes on Birds

Birds are animals. Most of them fly. Some, like the penguin, do not.

## Crows

Crows are clever. They use tools! Do ravens too?

- a list item that is not a paragraph
- another one

### Memory

Crows remember faces for years.

## Weather and Birds

Birds feel the weather. They fly low before rain.

```
# not a heading
code
```

The end.
"""


def _docs(n=20, text=DOC):
    return [SourceDoc(f"d{i}", "src" if i % 2 else "other", "", text.replace("Birds", f"Birds {i}")) for i in range(n)]


def test_corpus_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIBA_SHARED", str(tmp_path))
    assert corpus_dir() == tmp_path / "corpus"
    monkeypatch.delenv("SCRIBA_SHARED")
    assert corpus_dir().name == "corpus" and corpus_dir().parent.name == "shared"


def test_readers(tmp_path):
    recs = [{"id": "a", "source": "s", "title": "A", "text": "# A\n\nText."}, {"text": "no id"}]
    with lzma.open(tmp_path / "c.jsonl.xz", "wt") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    docs = list(read_jsonl(tmp_path / "c.jsonl.xz"))
    assert [(d.id, d.source, d.text) for d in docs] == [("a", "s", "# A\n\nText."), ("c-1", "c", "no id")]
    (tmp_path / "f").mkdir()
    (tmp_path / "f/x.md").write_text("# X\r\n\r\nBody.\r\n")
    (tmp_path / "f/y.txt").write_text("plain")
    (tmp_path / "f/z.bin").write_bytes(b"\x00")
    folder = list(read_folder(tmp_path / "f"))
    assert [d.id for d in folder] == ["x.md", "y.txt"] and folder[0].text == "# X\n\nBody.\n"
    assert len(list(iter_documents([tmp_path / "c.jsonl.xz", tmp_path / "f"]))) == 4
    with pytest.raises(ValueError):
        list(iter_documents([tmp_path / "f/z.bin"]))


def test_split_is_deterministic_and_sized():
    ids = [f"doc-{i}" for i in range(5000)]
    val = [i for i in ids if is_validation(i, 0.1)]
    assert val == [i for i in ids if is_validation(i, 0.1)]
    assert 400 < len(val) < 600
    train, v = split_documents([SourceDoc(i, "s", "", "x") for i in ids], 0.1)
    assert len(v) == len(val) and not {d.id for d in train} & set(val)


def _spans(table, kind, text=DOC):
    return [text[table.row(kind, i).start:table.row(kind, i).end] for i in range(table.count(kind))]


def test_span_table_finds_headings_paragraphs_sections_sentences():
    s = span_table(DOC)
    assert _spans(s, "heading") == ["# Notes on Birds", "## Crows", "### Memory", "## Weather and Birds"]
    paras = _spans(s, "paragraph")
    assert paras[0] == "Birds are animals. Most of them fly. Some, like the penguin, do not."
    assert not any(p.startswith("-") or "not a heading" in p for p in paras) and paras[-1] == "The end."
    rows = [s.row("section", i) for i in range(s.count("section"))]
    crows = [DOC[r.start:r.end] for r in rows if DOC[:r.start].rstrip().endswith("## Crows")][0]
    assert crows.startswith("Crows are clever.") and crows.endswith("Crows remember faces for years.")
    assert 1 in {r.heading_level for r in rows}
    assert _spans(s, "sentence")[3:6] == ["Crows are clever.", "They use tools!", "Do ravens too?"]
    assert s.outline_lines() == ["# Notes on Birds", "## Crows", "### Memory", "## Weather and Birds"]
    assert s.premise == "Birds are animals."
    assert s.kinds() == {"plain", "sentence", "paragraph", "section", "heading", "outline"}


def test_span_tables_in_worker_processes_equal_those_in_this_one(monkeypatch):
    import engine.spans

    texts = [DOC, DOC.replace("Birds", "Owls"), "no structure at all", "Title\n=====\n\nIt costs approx. ten euros.\n"]
    here = span_tables(texts)
    monkeypatch.setattr(engine.spans, "POOL_MIN_CHARS", 0)
    assert span_tables(texts, workers=2) == here
    assert span_tables(["bad \x00 text"]) == [engine.spans.SpanTable()]  # refused by the tree: plain windows only


def test_mixture_has_the_configured_proportions():
    mix = {"plain": 0.4, "sentence": 0.2, "paragraph": 0.15, "section": 0.1, "heading": 0.1, "outline": 0.05}
    stream = ExampleStream(_docs(), DataConfig(seq_len=2048, mixture=mix), seed=1)
    n = 4000
    kinds = Counter(stream.next_example(2048).kind for _ in range(n))
    for k, p in mix.items():
        assert abs(kinds[k] / n - p) < 0.025, (k, kinds[k] / n, p)


def test_rows_are_packed_whole_examples_without_padding():
    cfg = DataConfig(seq_len=1024, min_example=128)
    stream = ExampleStream(_docs(), cfg, seed=0)
    rows = [stream.next_row() for _ in range(30)]
    assert all(len(r) == 1024 for r in rows)
    assert rows[0][0] == BOS
    n_fim = 0
    for r in rows:
        parts = r.split(bytes([BOS]))
        for part in parts[1:-1]:  # whole examples between two BOS
            data = bytes([BOS]) + part
            task, order, middle = parse_example(data)
            if task.action != Action.CONTINUE:
                assert data.endswith(bytes([EOS])) and middle is not None
                n_fim += 1
    assert n_fim > 10
    assert stream.filler_bytes < cfg.min_example / cfg.seq_len * 30 * 1024


def test_stream_is_deterministic_and_resumes_exactly():
    cfg = DataConfig(seq_len=512, min_example=64)
    a = ExampleStream(_docs(), cfg, seed=3)
    rows_a = [a.next_row() for _ in range(40)]
    b = ExampleStream(_docs(), cfg, seed=3)
    for _ in range(17):
        b.next_row()
    state = b.state_dict()
    c = ExampleStream(_docs(), cfg, seed=3, state=StreamState.from_dict(json.loads(json.dumps(state))))
    assert [c.next_row() for _ in range(23)] == rows_a[17:]
    other = ExampleStream(_docs(), cfg, seed=4)
    assert [other.next_row() for _ in range(3)] != rows_a[:3]


def test_ranks_take_disjoint_visits():
    cfg = DataConfig(seq_len=256)
    s0 = ExampleStream(_docs(), cfg, seed=0, rank=0, world=2)
    s1 = ExampleStream(_docs(), cfg, seed=0, rank=1, world=2)
    full = ExampleStream(_docs(), cfg, seed=0).schedule(0)
    assert sorted(s0.schedule(0) + s1.schedule(0)) == sorted(full)
    assert s0.schedule(0) == full[0::2]


def test_long_documents_are_windowed_with_their_heading_path():
    body = "\n\n".join(f"Paragraph {i} of chapter three, which goes on for a while." for i in range(400))
    book = "# The Book\n\n## Chapter One\n\nShort.\n\n## Chapter Three\n\n" + body + "\n"
    b = ExampleBuilder(DataConfig(seq_len=600))
    rng = random.Random(0)
    for _ in range(20):
        ex = b.plain(rng, SourceDoc("b", "s", "", book), 600)
        text = ex.data[1:].decode()
        assert len(ex.data) <= 600
        if not text.startswith("# The Book\n\n## Chapter One"):
            assert text.startswith("# The Book\n\n## Chapter Three\n\n")
        assert not any(c in CONTROL_BYTES for c in ex.data[1:])


def test_history_pairs_become_rewrite_examples_with_old_text_and_instruction():
    before = "# T\n\nThe cat sat. It was happy.\n"
    start = before.index("The cat")
    pair = HistoryPair("d", before, start, start + len("The cat sat."), "A cat was sitting.", "rewrite", "sentence",
                       instruction="more formal", author="writer")
    stream = ExampleStream(_docs(2), DataConfig(seq_len=512, mixture={"plain": 0.5}, history_weight=0.5),
                           seed=0, history=[pair])
    exs = [stream.next_example(512) for _ in range(200)]
    hist = [e for e in exs if e.kind == "history"]
    assert 60 < len(hist) < 140
    task, order, middle = parse_example(hist[0].data)
    assert middle == "A cat was sitting." and task.old == "The cat sat." and task.instruction == "more formal"
    assert task.prefix.endswith("# T\n\n") and task.suffix == " It was happy.\n"
    assert hist[0].data[:hist[0].target_start] == build_prompt(task, order).data


def test_validation_set_covers_every_kind_and_source():
    cfg = DataConfig(seq_len=1024, val_examples=40)
    val = validation_set(_docs(6), cfg)
    assert {e.kind for e in val} == {"plain", "sentence", "paragraph", "section", "heading", "outline"}
    assert {e.source for e in val} == {"src", "other"}
    assert val == validation_set(_docs(6), cfg)  # fixed


def test_loader_batches_and_state():
    cfg = DataConfig(seq_len=256)
    loader = Loader(ExampleStream(_docs(), cfg, seed=0), batch_size=3, prefetch=2)
    try:
        batch, state = next(loader)
        assert tuple(batch.shape) == (3, 256) and int(batch.max()) < 256
        batch2, state2 = next(loader)
    finally:
        loader.close()
    resumed = ExampleStream(_docs(), cfg, seed=0, state=StreamState.from_dict(state))
    again = b"".join(resumed.next_row() for _ in range(3))
    assert bytes(batch2.flatten().tolist()) == again


def test_real_corpus_records(corpus_dir):
    for f in sorted(corpus_dir.glob("*.jsonl.xz")):
        doc = next(read_jsonl(f))
        assert doc.id and doc.source and doc.text.startswith("# ")
        s = span_table(doc.text)
        assert s.count("heading") and s.count("paragraph")
        b = ExampleBuilder(DataConfig(seq_len=4096))
        for kind in ("sentence", "paragraph", "heading", "section", "plain"):
            ex = b.build(random.Random(0), kind, doc, 4096)
            if ex is not None:
                assert len(ex.data) <= 4096
