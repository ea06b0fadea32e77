"""Round trip on Markdown we did not write: a seeded sample of the corpus (30 documents per source),
the corpus sample.md, and Markdown files shipped in the installed packages. The full corpus check is
`scriba check-roundtrip` (engine.document.roundtrip.check_corpus_roundtrip)."""

from __future__ import annotations

import json
import lzma
import random
import sys
from pathlib import Path

import pytest
from test_document import assert_consistent

from engine.document import Document, check_corpus_roundtrip
from engine.document.roundtrip import check_one

PER_SOURCE = 30


def _sample(path: Path, k: int, seed: int = 1234) -> list[tuple[str, str]]:
    """Reservoir sample of k (id, text) records, in one pass over the compressed file."""
    rng = random.Random(f"{seed}:{path.name}")
    chosen: list[tuple[str, str]] = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n < k:
                chosen.append(line)
            elif (j := rng.randrange(n + 1)) < k:
                chosen[j] = line
    records = [json.loads(line) for line in chosen]
    return [(r["id"], r["text"]) for r in records]


@pytest.fixture(scope="module")
def corpus_files(corpus_dir) -> list[Path]:
    return sorted(corpus_dir.glob("*.jsonl.xz"))


def test_corpus_sample_round_trips(corpus_files):
    checked = 0
    for path in corpus_files:
        for doc_id, text in _sample(path, PER_SOURCE):
            assert check_one(text) is None, f"{path.name}:{doc_id}: {check_one(text)}"
            checked += 1
    assert checked >= PER_SOURCE * len(corpus_files) - 3


def test_corpus_sample_md_consistent(corpus_dir):
    sample = corpus_dir / "sample.md"
    if not sample.exists():
        pytest.skip(f"{sample} not found")
    data = sample.read_bytes()
    doc = Document.from_bytes(data)
    assert doc.to_markdown().encode() == data
    assert_consistent(doc)


def test_check_corpus_roundtrip_reports_count_and_failures(tmp_path):
    good = tmp_path / "a.md"
    good.write_text("# A\n\nText. More.\n", encoding="utf-8")
    bad = tmp_path / "b.md"
    bad.write_bytes(b"x\x00y")
    jsonl = tmp_path / "c.jsonl.xz"
    with lzma.open(jsonl, "wt", encoding="utf-8") as f:
        for i in range(3):
            f.write(json.dumps({"id": str(i), "text": f"## Doc {i}\r\n\r\nBody.\r\n"}) + "\n")
    count, failures = check_corpus_roundtrip([tmp_path])
    assert count == 5
    assert len(failures) == 1 and "b.md" in failures[0] and "NUL" in failures[0]


def test_installed_package_markdown_round_trips():
    site = Path(sys.prefix) / "lib"
    paths = sorted(site.glob("python3*/site-packages/**/*.md"))[:200]
    paths += sorted(site.glob("python3*/site-packages/*.dist-info/METADATA"))[:100]
    if not paths:
        pytest.skip("no Markdown files found in the installed packages")
    count, failures = check_corpus_roundtrip(paths)
    assert count == len(paths) and failures == []
