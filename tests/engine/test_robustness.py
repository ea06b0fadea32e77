"""scriba results --robustness: each perturbation on real text (deterministic, its rate respected, UTF-8 kept valid,
never a no-op), the UDHR passages, the study on a tiny real model, and the report's section read from its log."""

from __future__ import annotations

import json
import re

import pytest

from app.cli import main
from engine.results.perturb import NAMES, PerturbConfig, crlf, drop_spaces, hard_wrap, perturb, typos
from engine.results.robustness import SCRIPTS, RobustnessConfig, run_robustness, score, script_texts

TEXT = ("Thank you for taking the time to help. This guide explains how to set up a working copy, how we review "
        "changes, and what makes a change easy to accept. None of it is meant to keep anyone out: if something "
        "here gets in your way, tell us and we will fix the guide.\n\n"
        "## Before you start\n\n- Read the code of conduct (2 minutes).\n"
        "- Все люди рождаются свободными, 人人生而自由.\n")
LETTERS = re.compile(r"[^\W\d_]+")


@pytest.mark.parametrize("name", NAMES)
def test_each_perturbation_changes_the_text_deterministically_and_keeps_utf8(name):
    cfg = PerturbConfig()
    out = perturb(name, TEXT, cfg, key="doc")
    assert out != TEXT  # never a no-op on real prose
    assert out == perturb(name, TEXT, cfg, key="doc")  # seeded: the same every run
    assert out.encode("utf-8").decode("utf-8") == out and "\ufffd" not in out


def test_seeded_perturbations_differ_by_text_key_and_seed():
    cfg = PerturbConfig()
    for name in ("drop_spaces", "typos"):
        a = perturb(name, TEXT, cfg, key="a")
        assert a != perturb(name, TEXT, cfg, key="b")
        assert a != perturb(name, TEXT, PerturbConfig(seed=1), key="a")


def test_case_changes():
    cfg = PerturbConfig()
    assert perturb("lower", TEXT, cfg) == TEXT.lower() and perturb("upper", TEXT, cfg) == TEXT.upper()


def test_dropped_spaces_take_the_asked_share_and_nothing_else():
    import random

    out = drop_spaces(TEXT, random.Random(0), 0.25)
    n = TEXT.count(" ")
    assert n - out.count(" ") == round(0.25 * n)
    assert out.replace(" ", "") == TEXT.replace(" ", "")


def test_typos_hit_the_asked_share_of_words_and_only_letters():
    import random

    text = TEXT * 4
    out = typos(text, random.Random(0), 0.1)
    before, after = LETTERS.findall(text), LETTERS.findall(out)
    assert len(before) == len(after)  # word runs stay aligned: no letter becomes a non-letter
    n_words = sum(len(w) >= 2 for w in before)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(changed) == round(0.1 * n_words)
    assert all(abs(len(a) - len(b)) <= 1 for a, b in changed)  # one edit each
    assert LETTERS.sub("", out) == LETTERS.sub("", text)  # punctuation, digits, spaces untouched


def test_hard_wrap_breaks_long_lines_at_spaces_only():
    out = hard_wrap(TEXT, 72)
    assert max(len(line) for line in out.split("\n")) <= 72
    assert out.count("\n") > TEXT.count("\n")
    assert out.replace("\n", " ") == TEXT.replace("\n", " ")  # each break is a space turned into a line end


def test_crlf_line_ends():
    out = crlf(TEXT)
    assert out.count("\r\n") == TEXT.count("\n") and out.replace("\r\n", "\n") == TEXT
    assert crlf(out) == out  # CR LF text stays as it is


def test_udhr_passages_are_the_same_text_in_each_script():
    texts = dict(script_texts())
    assert list(texts) == list(SCRIPTS)
    assert texts["english"].startswith("Universal Declaration of Human Rights")
    for lang, text in texts.items():
        assert 3000 <= len(text.encode("utf-8")) <= 4096
        letters = [c for c in text if c.isalpha()]
        non_ascii = sum(ord(c) > 127 for c in letters) / len(letters)
        assert non_ascii > 0.9 if lang != "english" else non_ascii == 0


def test_study_on_a_tiny_model_and_its_report(tiny_engine, tmp_path):
    sets = dict(heldout=[("a", TEXT), ("b", TEXT.replace("guide", "book"))])
    scripts = [(s, t[:400]) for s, t in script_texts()[:3]]
    cfg = RobustnessConfig(perturb=PerturbConfig(seed=3))
    records = run_robustness(tiny_engine, sets, scripts, cfg, model_name="tiny")
    rows = {r["perturbation"]: r for r in records if r["kind"] == "perturbation"}
    assert list(rows) == ["clean", *NAMES]
    assert rows["clean"] == dict(kind="perturbation", set="heldout", perturbation="clean", documents=2,
                                 **score(tiny_engine, sets["heldout"]))
    assert rows["crlf"]["bytes"] == rows["clean"]["bytes"] + 2 * TEXT.count("\n")
    assert rows["drop_spaces"]["bytes"] < rows["clean"]["bytes"] and rows["typos"]["changed"] == 2
    assert all(r["bits_per_byte"] > 0 and r["model_over_xz"] > 0 for r in rows.values())
    assert [r["language"] for r in records if r["kind"] == "script"] == ["english", "russian", "greek"]
    cfg_rec = records[0]
    assert cfg_rec["config"]["perturb"]["seed"] == 3 and cfg_rec["texts"] == dict(heldout=["a", "b"])

    logs = tmp_path / "logs" / "robustness"
    logs.mkdir(parents=True)
    (logs / "metrics.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    out = tmp_path / "report"
    assert main(["results", "--logs", str(tmp_path / "logs"), "--out", str(out)]) == 0
    text = (out / "REPORT.md").read_text()
    clean = rows["clean"]
    assert f"| clean | heldout | – | {clean['bytes']:,} | {clean['bits_per_byte']:.3f} | +0.000 | 1.00× |" in text
    up = rows["upper"]
    assert (f"| upper | heldout | 2 of 2 | {up['bytes']:,} | {up['bits_per_byte']:.3f} | "
            f"{up['bits_per_byte'] - clean['bits_per_byte']:+.3f} | {up['bits'] / clean['bits']:.2f}× | "
            f"{up['xz_bits_per_byte']:.3f} | {up['model_over_xz']:.2f} |") in text
    assert "| russian | 400 |" in text
    assert "**Tokenizers handle Unicode badly (UNK, byte fallback, invalid UTF-8).** Open. The byte model's side" \
        in text
    assert "byte against BPE is not yet measured: no BPE model is trained yet" in text


def test_report_without_a_robustness_log_says_how_to_measure(tmp_path):
    (tmp_path / "logs").mkdir()
    assert main(["results", "--logs", str(tmp_path / "logs"), "--out", str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "REPORT.md").read_text()
    assert "## Robustness\n\nNot yet measured: `scriba results --robustness` writes its log." in text
    assert "Unicode badly (UNK, byte fallback, invalid UTF-8).** Not yet measured: `scriba results --robustness`" \
        in text
