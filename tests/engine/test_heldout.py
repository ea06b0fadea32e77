"""The held-out set (assets/heldout): every file listed with its origin and licence, and none in the corpus."""

import pytest

from engine.corpus import corpus_dir, read_jsonl
from engine.evaluate import heldout_dir, heldout_manifest


def test_manifest_lists_every_file_with_origin_and_licence():
    entries = heldout_manifest()
    files = {p.name for p in heldout_dir().iterdir()} - {"manifest.json", "MANIFEST.md"}
    assert {e["file"] for e in entries} == files
    assert {e["group"] for e in entries} == {"markdown", "plain"}
    assert all(e["origin"] and e["licence"] for e in entries)
    assert not any("/usr/share" in e["origin"] for e in entries)


def test_no_heldout_document_is_in_the_corpus():
    paths = sorted(corpus_dir().glob("*.jsonl.xz"))
    if not paths:
        pytest.skip(f"corpus not found at {corpus_dir()} (set SCRIBA_SHARED to the folder holding corpus/)")
    probes = {}
    for e in heldout_manifest():
        words = open(e["path"], encoding="utf-8").read().split()
        probes[e["file"]] = [" ".join(words[i:i + 8]) for i in (len(words) // 5, len(words) // 2, 4 * len(words) // 5)]
    for p in paths:
        for d in read_jsonl(p):
            flat = " ".join(d.text.split())
            hits = [(f, q) for f, qs in probes.items() for q in qs if q in flat]
            assert not hits, (d.id, hits)
