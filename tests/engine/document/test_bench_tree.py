"""Benchmarks of the document tree on big documents (skipped unless `--benchmark-enable`):

    pytest tests/engine/document/test_bench_tree.py --benchmark-enable

parse (Markdown -> tree), lay out (tree -> Markdown, exact), records, and the rebuild from stored rows
(`Document.from_rows`, what `Store.current` does) for 1 MB and 20 MB; the peak RSS after each."""

from __future__ import annotations

import resource

import pytest

from engine.document import Document
from engine.document.nodes import paused_gc
from tests.app.tui.test_bench_open import MB, big_document

SIZES = {"1MB": MB, "20MB": 20 * MB}


@pytest.fixture(autouse=True)
def _only_as_a_benchmark(benchmark):
    if benchmark.disabled:
        pytest.skip("a benchmark: run with --benchmark-enable")


@pytest.fixture(scope="module", params=list(SIZES))
def text(request) -> str:
    return big_document(SIZES[request.param])


def _rss(benchmark) -> None:
    benchmark.extra_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_parse(benchmark, text):
    with paused_gc():
        doc = benchmark.pedantic(Document.from_markdown, args=(text,), rounds=1, iterations=1)
    _rss(benchmark)
    assert doc.to_markdown() == text


def test_lay_out(benchmark, text):
    with paused_gc():
        doc = Document.from_markdown(text)
        out = benchmark.pedantic(lambda: Document.from_records(doc.records()).to_markdown(), rounds=1, iterations=1)
    _rss(benchmark)
    assert out == text


def test_rebuild_from_rows(benchmark, text):
    with paused_gc():
        doc = Document.from_markdown(text)
        rows = sorted(((r.id, r.kind, r.parent_id, r.order, r.level, r.text, r.tail) for r in doc.records()),
                      key=lambda row: (row[3], row[0]))
        back = benchmark.pedantic(Document.from_rows, args=(rows,), rounds=1, iterations=1)
    _rss(benchmark)
    assert back.to_markdown() == text
