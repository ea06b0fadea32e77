"""The samples report (engine/samples.py, `scriba samples`): fixed nodes by rule, every action of the
registry, one candidate per seed, the same report for the same seeds, and a report a reader can reproduce
candidate by candidate with `scriba generate`. A tiny real model with random weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.cli import main
from engine import instructions, samples
from engine.actions import ACTIONS
from engine.document import Document

DEMO = samples.ASSETS / "demo.md"
PLAIN = "On tools\n\nA small tool does one thing. It does it the same way every time.\n\nThat is all.\n"


@pytest.fixture
def config(tmp_path) -> samples.SamplesConfig:
    """The demo document and a document with no heading; two seeds; 8 bytes a candidate (fast)."""
    plain = tmp_path / "plain.txt"
    plain.write_text(PLAIN)
    return samples.SamplesConfig(documents=("demo.md", plain), seeds=(0, 1), caps={k: 8 for k in samples.CAPS})


def test_nodes_are_chosen_by_the_fixed_rules():
    doc = Document.from_bytes(DEMO.read_bytes())
    picks = samples.pick_nodes(doc)
    assert doc.node(picks["heading"]).text == "## Working at several scales"  # not the title: below the top level
    assert doc.node(picks["paragraph"]).text.startswith("A paragraph is the smallest unit of argument.")
    assert doc.node(picks["sentence"]).text.startswith("It makes one move")  # middle of 3 in the middle paragraph
    assert samples.pick_nodes(Document.from_bytes(PLAIN.encode()))["heading"] is None


def test_instruct_gets_a_trained_form_true_of_the_span():
    forms = samples.instruction_forms("Keep every version, so that cutting is never a loss.")
    assert instructions.canonical(forms) == "include: version; about 10 words"
    assert all(instructions.satisfied(forms, "Keep every version, so that cutting is never a loss.").values())


def test_every_action_runs_on_its_node_and_instruct_is_a_trained_form(config):
    cases = samples.plan(Document.from_bytes(DEMO.read_bytes()), "demo.md", config)
    assert [c.action for c in cases] == [a for a in ACTIONS for _ in samples.targets(a)]
    assert all(c.refused is None and c.max_bytes == 8 for c in cases)
    instruct = next(c for c in cases if c.action == "instruct")
    assert instructions.parse(instruct.instruction) and instruct.task.old is None  # as training writes it
    baseline = next(c for c in cases if c.action == "rewrite" and c.target == "paragraph")
    assert baseline.forms == instruct.forms and baseline.instruction is None and not baseline.forms_given
    outline = next(c for c in cases if c.action == "outline")
    assert outline.instruction == "Writing Long Documents" and outline.node is None


def test_the_outline_premise_of_a_setext_title_is_its_text():
    doc = Document.from_bytes((samples.ASSETS / "heldout" / "contributing.md").read_bytes())
    outline = next(c for c in samples.plan(doc, "contributing.md", samples.SamplesConfig()) if c.action == "outline")
    assert outline.instruction == "Contributing to Quill"  # not "Contributing to Quill\n=====..."


def test_same_seeds_same_report_with_every_action_and_seed(tiny_engine, config):
    first = samples.report(tiny_engine, config)
    assert samples.report(tiny_engine, config) == first
    lines = first.split("\n")
    assert lines[0] == "# Samples: tiny" and lines[2].startswith("Model `tiny` (0.1 M parameters; layout")
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d\d:\d\d:\d\d", first)  # no timestamp: reports diff cleanly
    starts = [first.index(f"\n## {name}\n") for name in ("demo.md", str(config.documents[1]))]
    assert starts == sorted(starts)
    sections = [first[starts[0]:starts[1]], first[starts[1]:]]
    for section in sections:
        assert re.findall(r"^### (\w+) ·", section, re.M) == [a for a in ACTIONS for _ in samples.targets(a)]
    demo, plain = sections
    assert demo.count("**seed 0** · ") == demo.count("**seed 1** · ") == 7 and "Refused" not in demo
    assert plain.count("Refused: this document has no heading for the rule") == 2  # expand, summarise
    assert plain.count("**seed 0** · ") == 5
    assert "The instruction: `include: paragraphs; about 40 words`" in demo
    assert re.search(r"^With the same seed, \d of 4 `instruct` candidates are byte for byte", first, re.M)
    assert "### expand · heading · no node" in plain
    # the seeds give different candidates (a random model at temperature 0.8)
    cands = re.findall(r"\*\*seed (\d)\*\* · \w+ · \d+ bytes.*\n\n```+text\n(.*?)\n```", first, re.S)
    assert {t for s, t in cands if s == "0"} != {t for s, t in cands if s == "1"}


def test_a_candidate_of_the_report_is_what_scriba_generate_writes(tiny_engine, tiny_model_dir, config, tmp_path,
                                                                   capsys):
    config.documents = ("demo.md",)
    cases = samples.collect(tiny_engine, config)
    case = next(c for c in cases if c.action == "rewrite" and c.target == "sentence")
    code = main(["generate", str(DEMO), "--action", "rewrite", "--node", str(case.node), "--n", "1", "--seed", "1",
                 "--max-bytes", str(case.max_bytes), "--json", "--model", str(tiny_model_dir), "--backend", "torch",
                 "--device", "cpu", "--db", str(tmp_path / "none.db")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["candidates"][0]["raw"] == case.samples[1].raw
    assert out["candidates"][0]["text"] == case.samples[1].text


def test_the_command_refuses_a_missing_model_in_one_line(capsys, tmp_path):
    out = tmp_path / "SAMPLES.md"
    code = main(["samples", "--model", str(tmp_path / "nope"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == "" and not out.exists()
    assert captured.err == f"scriba samples: no model directory at {tmp_path / 'nope'}\n"


def test_the_command_refuses_bad_seeds_and_a_missing_folder(capsys, tmp_path, tiny_model_dir):
    assert main(["samples", "--model", str(tiny_model_dir), "--out", str(tmp_path / "o.md"), "--seeds", "1,x"]) == 2
    assert capsys.readouterr().err == "scriba samples: --seeds '1,x': give whole numbers separated by commas\n"
    missing = Path(tmp_path / "no" / "o.md")
    assert main(["samples", "--model", str(tiny_model_dir), "--out", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err == f"scriba samples: cannot write {missing}: the folder {missing.parent} does not exist\n"


def test_the_summary_counts_instruct_candidates_the_instruction_did_not_change():
    forms = instructions.Forms(include=["paragraphs"])
    plain = samples.Case("d.md", "rewrite", "paragraph", node=3, forms=forms,
                         samples=[samples.Sample(0, "Same text.", "Same text.", "stop", 10),
                                  samples.Sample(1, "One text.", "One text.", "stop", 9)])
    told = samples.Case("d.md", "instruct", "paragraph", node=3, forms=forms, forms_given=True,
                        samples=[samples.Sample(0, "Same text.", "Same text.", "stop", 10, {"include": False}),
                                 samples.Sample(1, "Other paragraphs.", "Other paragraphs.", "stop", 17,
                                                {"include": True})])
    summary = "\n".join(samples._summary([plain, told]))
    assert "With the same seed, 1 of 2 `instruct` candidates are byte for byte the plain `rewrite`" in summary
    assert "| instruct | paragraph | 0 | 2 | 2 | 0 | 0 | 14 | 1/2 |" in summary
