"""engine/train/ and `scriba train` (app/cli/train.py): schedule, per-stage param groups, checkpoints, exact
resume, time budget, validation, progress through a callback."""

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("engine.model")

from app.cli import main as scriba  # noqa: E402
from engine.train import TrainConfig, load_run_config, lr_factor, param_groups  # noqa: E402


def main(argv: list[str]) -> int:
    return scriba(["train", *argv])

REPO = Path(__file__).resolve().parents[2]

DOC = """# A Small Book

This is the opening paragraph of a small book. It has a few sentences. They are short.

## Chapter One

The first chapter begins here. Something happens! Then something else happens.

Another paragraph follows, with more words in it, so that there is text to learn from.

### A Part

A part of the chapter, with its own paragraph.

## Chapter Two

The second chapter. It ends the book.
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    for i in range(12):
        (d / f"doc{i}.md").write_text(DOC.replace("small", f"small {i}") * (1 + i % 3))
    return d


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _train(out, corpus, *extra):
    argv = ["--config", str(REPO / "engine/configs/tiny.json"), "--data", str(corpus), "--out", str(out),
            "--seq-len", "256", "--batch-size", "2", "--log-every", "1", "--eval-every", "0",
            "--save-every", "1000", "--no-progress", *extra]
    assert main(argv) == 0
    return _read(out / "metrics.jsonl")


def _losses(recs):
    return {r["step"]: r["loss"] for r in recs if "loss" in r}


def test_lr_schedule_warmup_cosine_wsd():
    c = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_factor(0, c) == pytest.approx(0.1) and lr_factor(9, c) == pytest.approx(1.0)
    assert lr_factor(10, c) == pytest.approx(1.0)
    assert lr_factor(60, c) == pytest.approx(0.55)
    assert lr_factor(110, c) == pytest.approx(0.1)
    w = TrainConfig(lr=1.0, warmup_steps=0, max_steps=100, schedule="wsd", decay_fraction=0.2, min_lr_ratio=0.0)
    assert lr_factor(50, w) == 1.0 and lr_factor(90, w) == pytest.approx(0.5) and lr_factor(100, w) == pytest.approx(0)
    assert lr_factor(20, c, progress=1.0) == pytest.approx(0.1)  # a time budget can finish the schedule early


def test_param_groups_by_stage():
    from engine.config import preset
    from engine.model import HNetLM

    model = HNetLM(preset("tiny-2stage"))
    groups = param_groups(model, TrainConfig(weight_decay=0.1))
    mult = model.config.lr_multiplier
    assert {g["depth"] for g in groups} == {0, 1, 2}
    for g in groups:
        assert g["lr_mult"] == mult[g["depth"]]
        for n in g["names"]:
            assert n.split(".").count("inner") == g["depth"]
            if n.endswith(("A_log", ".D", "dt_bias", "norm.weight")) or n.startswith("embed"):
                assert g["weight_decay"] == 0.0
    names = [n for g in groups for n in g["names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())


def test_config_files_load():
    for f in sorted((REPO / "engine/configs").glob("*.json")):
        model_cfg, data_cfg, train_cfg = load_run_config(f)
        assert data_cfg.seq_len > 0 and train_cfg.max_steps > 0 and model_cfg.depth >= 0
        assert abs(sum(data_cfg.mixture.values()) - 1.0) < 1e-6, f


def test_train_writes_metrics_checkpoint_and_model(tmp_path, corpus):
    recs = _train(tmp_path / "run", corpus, "--max-steps", "6")
    losses = _losses(recs)
    assert sorted(losses) == list(range(1, 7)) and all(math.isfinite(v) for v in losses.values())
    train_recs = [r for r in recs if "loss" in r]
    assert all(r["bytes_per_s"] > 0 and "lr" in r and "ratio_loss" in r for r in train_recs)
    val = [r["val"] for r in recs if "val" in r][-1]
    assert "all" in val and any(k.startswith("kind/") for k in val) and any(k.startswith("source/") for k in val)
    assert (tmp_path / "run/ckpt/model.safetensors").is_file() and (tmp_path / "run/ckpt/trainer.pt").is_file()
    from engine.api import load_engine

    eng = load_engine(tmp_path / "run/model", backend="torch", device="cpu")
    assert eng.score("Hello.") > 0
    cfg = json.loads((tmp_path / "run/model/config.json").read_text())
    assert cfg["training"]["steps"] == 6 and cfg["training"]["stopped"] == "max_steps"


def test_resume_is_exact(tmp_path, corpus):
    """2N steps in one go == N steps, stop, resume for N more: the same loss at every step."""
    full = _losses(_train(tmp_path / "a", corpus, "--max-steps", "8"))
    first = _losses(_train(tmp_path / "b", corpus, "--max-steps", "8", "--stop-after", "4"))
    assert sorted(first) == [1, 2, 3, 4]
    assert main(["--out", str(tmp_path / "b"), "--resume", "--no-progress"]) == 0
    resumed = _losses(_read(tmp_path / "b/metrics.jsonl"))
    assert sorted(resumed) == list(range(1, 9))
    for step in range(1, 9):
        assert resumed[step] == full[step], (step, resumed[step], full[step])


def test_time_budget_stops_and_saves(tmp_path, corpus):
    recs = _train(tmp_path / "t", corpus, "--max-steps", "100000", "--time-budget", "2")
    end = [r for r in recs if r.get("event") == "end"][-1]
    assert end["stopped"] == "time_budget" and 0 < end["step"] < 100000
    assert (tmp_path / "t/model/model.safetensors").is_file()


def test_resume_without_checkpoint_is_a_clean_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "none"), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_evaluate_counts_only_targets():
    import torch

    from engine.config import preset
    from engine.examples import Example
    from engine.model import HNetLM
    from engine.train import evaluate

    torch.manual_seed(0)
    model = HNetLM(preset("tiny"))
    ex = [Example("plain", "s", bytes([0xF5]) + b"hello world", 1), Example("sentence", "s", bytes([0xF5]) + b"abc", 3)]
    res = evaluate(model, ex, "cpu")
    assert set(res) == {"all", "kind/plain", "kind/sentence", "source/s"}
    assert all(0 < v < 20 for v in res.values())


def test_scriba_train_command_passes_options_through(tmp_path, corpus):
    rc = scriba(["train", "--config", "tiny", "--data", str(corpus), "--out", str(tmp_path / "c"), "--max-steps",
                 "2", "--seq-len", "128", "--lr", "0.001", "--no-progress"])
    assert rc == 0 and (tmp_path / "c/model/config.json").is_file()
    saved = json.loads((tmp_path / "c/run_config.json").read_text())
    assert saved["train"]["max_steps"] == 2 and saved["train"]["lr"] == 0.001 and saved["data"]["seq_len"] == 128
    assert saved["data"]["paths"] == [str(corpus)] and saved["model"]["name"] == "tiny"


def test_refusals_are_one_line(tmp_path, corpus, capsys):
    assert main(["--config", "no-such-config", "--out", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.startswith("scriba train: no engine config named 'no-such-config'")
    assert main(["--preset", "huge-nonexistent", "--data", str(corpus), "--out", str(tmp_path / "y")]) == 1
    assert "unknown preset" in capsys.readouterr().err
    assert main(["--from-history", str(tmp_path / "none.db"), "--out", str(tmp_path / "z")]) == 1
    assert "no store" in capsys.readouterr().err


def test_library_reports_progress_through_the_callback_and_prints_nothing(tmp_path, corpus, capfd):
    from engine.train import new_run, train

    run = new_run(tmp_path / "lib", REPO / "engine/configs/tiny.json",
                  overrides={"paths": [str(corpus)], "seq_len": 128, "batch_size": 2, "max_steps": 3,
                             "log_every": 1, "eval_every": 0})
    records = []
    result = train(run, on_progress=records.append)
    assert (result.step, result.stopped, result.export) == (3, "max_steps", tmp_path / "lib/model")
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert records[0]["event"] == "start" and records[-1]["event"] == "end" and "all" in result.val
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_from_history_jsonl(tmp_path, corpus):
    from dataclasses import asdict

    from engine.corpus import read_history_jsonl
    from engine.protocol import HistoryPair

    before = "# T\n\nThe cat sat. It purred.\n"
    pair = HistoryPair("d", before, 5, 17, "A cat sat down.", "rewrite", "sentence", instruction="longer")
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(asdict(pair)) + "\n")
    assert read_history_jsonl(path) == [pair]
    recs = _train(tmp_path / "h", corpus, "--max-steps", "2", "--from-history", str(path))
    assert _losses(recs)


def test_time_budget_leaves_out_the_compiling_first_steps(tmp_path, corpus):
    """A budget shorter than the first step (on a cold GPU machine the first step compiles kernels for
    minutes) still trains past it: the first steps are compile time, not budget, and the stop rule
    predicts from typical steps."""
    from engine.train.loop import COMPILE_STEPS

    recs = _train(tmp_path / "t", corpus, "--max-steps", "100000", "--time-budget", "0.001")
    end = [r for r in recs if r.get("event") == "end"][-1]
    assert end["stopped"] == "time_budget" and end["step"] == COMPILE_STEPS + 1
    assert end["compile_s"] > 0 and end["elapsed"] < end["compile_s"] + 60


def test_init_fine_tunes_under_the_run_configs_name(tmp_path, corpus):
    """--init keeps the init model's weights and architecture; a run config naming the same architecture
    gives the fine-tuned model its own name (v3 from v2), one naming another architecture does not."""
    _train(tmp_path / "base", corpus, "--max-steps", "2")
    cfg = json.loads((REPO / "engine/configs/tiny.json").read_text())
    cfg["model"] = {"preset": "tiny", "name": "tiny-finetuned"}
    (tmp_path / "ft.json").write_text(json.dumps(cfg))
    argv = ["--config", str(tmp_path / "ft.json"), "--data", str(corpus), "--out", str(tmp_path / "ft"),
            "--seq-len", "256", "--batch-size", "2", "--eval-every", "0", "--save-every", "1000", "--no-progress",
            "--max-steps", "1", "--init", str(tmp_path / "base/model")]
    assert main(argv) == 0
    from engine.model import HNetLM

    base, tuned = HNetLM.load(tmp_path / "base/model"), HNetLM.load(tmp_path / "ft/model")
    assert tuned.config.name == "tiny-finetuned" and base.config.name != "tiny-finetuned"
    assert tuned.config.d_model == base.config.d_model and tuned.config.layout == base.config.layout
    cfg["model"]["d_model"] = [d * 2 for d in base.config.d_model]
    (tmp_path / "other.json").write_text(json.dumps(cfg))
    argv[1], argv[5] = str(tmp_path / "other.json"), str(tmp_path / "ft2")
    assert main(argv) == 0
    assert HNetLM.load(tmp_path / "ft2/model").config.name == base.config.name


def test_eval_history_measures_what_from_history_training_learns(tmp_path, corpus, capsys):
    """`scriba eval --history` scores the accepted revisions as the trainer's history examples put them: a
    fine-tune that sees mostly history lowers their bits per byte; a refusal is one line."""
    from dataclasses import asdict

    from engine.protocol import HistoryPair

    before = "# Notes\n\nThe river floods. It rains a lot.\n"
    pairs = [HistoryPair("d", before, 9, 26, "The river floods every spring.", "rewrite", "sentence"),
             HistoryPair("d", before, 0, 7, "# River notes", "summarise", "heading", heading_level=1)]
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(asdict(p)) + "\n" for p in pairs))

    def history_bits(model_dir) -> dict:
        capsys.readouterr()
        assert scriba(["eval", "--model", str(model_dir), "--history", str(path), "--json", "--device", "cpu"]) == 0
        return json.loads(capsys.readouterr().out)["result"]

    _train(tmp_path / "base", corpus, "--max-steps", "2")
    cfg = json.loads((REPO / "engine/configs/tiny.json").read_text())
    cfg["data"]["history_weight"] = 50.0  # nearly every example a history one
    (tmp_path / "h.json").write_text(json.dumps(cfg))
    assert main(["--config", str(tmp_path / "h.json"), "--data", str(corpus), "--out", str(tmp_path / "ft"),
                 "--seq-len", "256", "--batch-size", "2", "--eval-every", "0", "--save-every", "1000",
                 "--no-progress", "--max-steps", "30", "--lr", "3e-3", "--init", str(tmp_path / "base/model"),
                 "--from-history", str(path)]) == 0
    before_ft, after_ft = history_bits(tmp_path / "base/model"), history_bits(tmp_path / "ft/model")
    assert set(before_ft) == {"all", "writer:rewrite", "writer:summarise"} and before_ft["all"]["n"] == 2
    assert before_ft["all"]["bytes"] == len("The river floods every spring.") + len("# River notes") + 2  # + EOS each
    assert after_ft["all"]["bits_per_byte"] < before_ft["all"]["bits_per_byte"] - 0.2
    assert scriba(["eval", "--history", str(tmp_path / "missing.db")]) == 1
    assert "--history: no store at" in capsys.readouterr().err
