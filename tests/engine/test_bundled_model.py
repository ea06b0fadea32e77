"""The model shipped in assets/model: it loads on CPU, is small enough to ship, writes every action at the
right level through `scriba generate` (the TUI's code path), and is a real language model (far better
than a general-purpose compressor on held-out-style prose)."""

import json
import lzma

import pytest

from app.cli import main
from engine.api import BUNDLED_MODEL
from engine.document import split_sentences

pytestmark = pytest.mark.skipif(not (BUNDLED_MODEL / "model.safetensors").is_file(),
                                reason="no bundled model in assets/model")

DOC = """# Tides

The Moon's gravity pulls on the oceans, raising a bulge of water on the side of Earth facing it. A second bulge forms on the far side, so most coasts see two high tides a day.

## Spring and neap tides

When the Sun and the Moon line up, their pulls add and the tides are at their largest. When they are at right angles, the tides are smaller.

## Tides and life on the shore

Many animals on rocky shores live between the high and low water marks.
"""


def test_bundled_model_is_small_and_describes_itself():
    size = (BUNDLED_MODEL / "model.safetensors").stat().st_size
    assert size <= 20e6
    card = (BUNDLED_MODEL / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card and "OpenStax" in card and "scriba train --config" in card
    cfg = json.loads((BUNDLED_MODEL / "config.json").read_text())
    assert cfg["training"]["steps"] > 1000


@pytest.fixture(scope="module")
def doc_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundled") / "tides.md"
    path.write_text(DOC)
    return path


def _generate(capsys, doc_path, action, node=None, n=2, max_bytes=160):
    args = ["generate", str(doc_path), "--action", action, "--n", str(n), "--seed", "7", "--json",
            "--max-bytes", str(max_bytes), "--db", str(doc_path.with_suffix(".db")), "--device", "cpu"]
    if node is not None:
        args += ["--node", node]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["candidates"]) == n
    for c in out["candidates"]:
        c["raw"].encode("utf-8")  # valid text (json would have failed on surrogates)
    return [c["text"] for c in out["candidates"]]


def _node(doc_path, kind, startswith):
    from engine.document import Document  # the node index `scriba generate --node` takes, in tree order

    doc = Document.from_markdown(doc_path.read_text())
    records = [r for r in doc.records() if r.parent_id is not None]
    return str(next(i for i, r in enumerate(records) if str(r.kind) == kind and r.text.startswith(startswith)))


def test_rewrite_sentence_is_one_sentence(capsys, doc_path):
    texts = _generate(capsys, doc_path, "rewrite", _node(doc_path, "sentence", "When they are"))
    assert any(texts)
    for t in filter(None, texts):
        assert "\n" not in t and len([s for s, _ in split_sentences(t) if s.strip()]) == 1


def test_summarise_writes_one_heading_line_of_the_same_level(capsys, doc_path):
    texts = _generate(capsys, doc_path, "summarise", _node(doc_path, "heading", "## Spring"), max_bytes=80)
    assert any(texts)
    for t in filter(None, texts):
        assert "\n" not in t and t.startswith("## ") and not t.startswith("###")


def test_expand_writes_a_section_body_without_a_peer_heading(capsys, doc_path):
    texts = _generate(capsys, doc_path, "expand", _node(doc_path, "heading", "## Tides and life"))
    assert any(t.strip() for t in texts)
    for t in texts:
        assert not any(line.startswith(("# ", "## ")) for line in t.splitlines())


def test_continue_and_outline(capsys, doc_path):
    assert any(_generate(capsys, doc_path, "continue", _node(doc_path, "sentence", "Many animals"), max_bytes=80))
    for t in _generate(capsys, doc_path, "outline", max_bytes=200):
        assert all(line.lstrip().startswith("#") for line in t.splitlines() if line.strip())


def test_the_model_compresses_prose_far_better_than_xz():
    """bits per byte on a text the model never saw (written for this test), against xz -9e."""
    text = DOC
    from engine.api import load_engine

    bpb = load_engine(device="cpu").score(text)
    xz = len(lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME)) * 8 / len(text.encode())
    assert bpb < 2.5 and bpb < 0.6 * xz, (bpb, xz)  # a random-weight model scores ~8 bits per byte
