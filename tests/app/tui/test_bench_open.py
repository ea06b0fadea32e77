"""Benchmark: opening a 1 MB Markdown document in the app (first open: parse, import into a fresh store,
build the outline; reopen: resume it from the store). Disabled as a benchmark by default (--benchmark-disable in
pyproject) but still runs once as a test; `pytest tests/tui/test_bench_open.py --benchmark-enable` times it."""

from __future__ import annotations

import asyncio
import itertools
import time

from app.tui.app import ScribaApp
from engine.resources import demo_document

MB = 1 << 20


def big_document(size: int = MB) -> str:
    """About `size` bytes of Markdown: the demo essay's sections, renumbered, over and over."""
    body = demo_document().read_text().split("\n", 1)[1]
    parts, total = ["# A very long document\n"], 0
    for i in itertools.count(1):
        chunk = f"\n## Part {i}\n" + body.replace("## ", f"### {i}.").replace("### The", f"#### {i}: The")
        parts.append(chunk)
        total += len(chunk.encode())
        if total >= size:
            return "".join(parts)


def outline_shows(app, title: str) -> bool:
    """The outline holds the document's nodes: its first line is the document's title heading, the
    cursor on one of the shown document's nodes (whether the file's provisional tree or the store's)."""
    tree, doc = app.outline, app.doc
    if doc is None or not tree.root.children or tree.cursor_node is None or tree.cursor_node.data is None:
        return False
    first = tree.root.children[0]
    return first.data is not None and first.data.node_id in doc and title in first.label.plain \
        and tree.cursor_node.data.node_id in doc


def preview_shows(app, title: str) -> bool:
    """The preview has rendered (part of) the document: Markdown blocks mounted from its text."""
    markdown = app.preview.markdown_widget
    return title in markdown.source and len(markdown.children) > 0


def accepts_edits(app) -> bool:
    """What `ScribaApp.ready_to_change` checks (it notifies when not: not called while polling), plus the
    editor taking keystrokes and the store attached (history on)."""
    session = app.session
    return session is not None and not session.provisional and session.store is not None \
        and app.outline.selected_id is not None and not app.editor.read_only


async def open_in_app(path, db_path) -> dict[str, float]:
    """Seconds from starting the app on `path` until the document is `visible` (the outline shows its
    nodes), `preview` (rendered in the preview too) and `ready` (edits accepted: attached to the store,
    not the provisional view of the file alone, a node selected, the editor writable)."""
    title = "A very long document"
    app = ScribaApp(path, db_path=db_path, load_engine=False, watch=False)
    started = time.perf_counter()
    at: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        while len(at) < 3:
            # not pilot.pause(): it makes every widget process a message and repaints the whole screen
            # each time, which the app would not do by itself (it costs the open ~0.1-0.3 s on 2 cores)
            now = time.perf_counter() - started
            if "visible" not in at and outline_shows(app, title):
                at["visible"] = now
            if "preview" not in at and preview_shows(app, title):
                at["preview"] = now
            if "ready" not in at and accepts_edits(app):
                at["ready"] = now
            if app.session is not None and app.session.provisional:  # shown, not editable yet
                assert app.editor.read_only
            await asyncio.sleep(0.005)
        assert app.main.ready_to_change()
        nodes = list(app.doc.walk())
        assert len(nodes) > 10_000  # the whole document is open (and in the store: not provisional)
        # the outline adds the children of a collapsed node when it is opened: any node can be shown
        assert app.outline.root.children and app.outline.select_id(nodes[-1].id)
        while app.selected_id != nodes[-1].id:
            await pilot.pause(0.02)
    return at


def test_open_a_1mb_document(benchmark, tmp_path):
    text = big_document()
    assert len(text.encode()) >= MB
    path = tmp_path / "big.md"
    path.write_text(text)
    counter = itertools.count()

    def first_open() -> dict[str, float]:
        return asyncio.run(open_in_app(path, tmp_path / f"db{next(counter)}.sqlite"))

    first = benchmark.pedantic(first_open, rounds=1, iterations=1)
    resumed = asyncio.run(open_in_app(path, tmp_path / "db0.sqlite"))  # the store has it now
    benchmark.extra_info.update({f"first_{k}": v for k, v in first.items()})
    benchmark.extra_info.update({f"reopen_{k}": v for k, v in resumed.items()})
    for name, at in (("first open (import)", first), ("reopen (resume)", resumed)):
        print(f"\n1 MB document, {name}: visible {at['visible']:.2f} s, preview {at['preview']:.2f} s, "
              f"ready {at['ready']:.2f} s", end="")
    print()
    assert all(at["visible"] <= at["ready"] + 0.01 for at in (first, resumed))  # never editable unseen
    assert max(first.values()) < 60 and max(resumed.values()) < 60
