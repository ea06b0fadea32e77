"""Benchmark: opening a 1 MB Markdown document in the app (first open: parse, import into a fresh store,
build the outline; reopen: resume it from the store). Disabled as a benchmark by default (--benchmark-disable in
pyproject) but still runs once as a test; `pytest tests/tui/test_bench_open.py --benchmark-enable` times it."""

from __future__ import annotations

import asyncio
import itertools
import time

from app.tui.app import ScribaApp
from app.tui.session import DEMO

MB = 1 << 20


def big_document(size: int = MB) -> str:
    """About `size` bytes of Markdown: the demo essay's sections, renumbered, over and over."""
    body = DEMO.read_text().split("\n", 1)[1]
    parts, total = ["# A very long document\n"], 0
    for i in itertools.count(1):
        chunk = f"\n## Part {i}\n" + body.replace("## ", f"### {i}.").replace("### The", f"#### {i}: The")
        parts.append(chunk)
        total += len(chunk.encode())
        if total >= size:
            return "".join(parts)


async def open_in_app(path, db_path) -> float:
    """Seconds from starting the app on `path` until the document is open: attached to the store (not the
    provisional view of the file alone), in the outline, a node selected."""
    app = ScribaApp(path, db_path=db_path, load_engine=False, watch=False)
    started = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        while app.session is None or app.session.provisional or app.outline.selected_id is None:
            # not pilot.pause(): it makes every widget process a message and repaints the whole screen
            # each time, which the app would not do by itself (it costs the open ~0.1-0.3 s on 2 cores)
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started
        nodes = list(app.doc.walk())
        assert len(nodes) > 10_000  # the whole document is open (and in the store: not provisional)
        # the outline adds the children of a collapsed node when it is opened: any node can be shown
        assert app.outline.root.children and app.outline.select_id(nodes[-1].id)
        while app.selected_id != nodes[-1].id:
            await pilot.pause(0.02)
    return seconds


def test_open_a_1mb_document(benchmark, tmp_path):
    text = big_document()
    assert len(text.encode()) >= MB
    path = tmp_path / "big.md"
    path.write_text(text)
    counter = itertools.count()

    def first_open() -> float:
        return asyncio.run(open_in_app(path, tmp_path / f"db{next(counter)}.sqlite"))

    seconds = benchmark.pedantic(first_open, rounds=1, iterations=1)
    resumed = asyncio.run(open_in_app(path, tmp_path / "db0.sqlite"))  # the store has it now
    print(f"\n1 MB document: first open (import) {seconds:.2f} s, reopen (resume) {resumed:.2f} s")
    assert seconds < 60 and resumed < 60
