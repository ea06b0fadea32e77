"""`scriba eval` and `scriba inspect` on a real (tiny, random-weight) 2-stage H-Net saved to disk."""

import io
import json
import lzma
import sys

import pytest
import torch
import torch.nn.functional as F

from app.cli import main
from engine.api import load_engine
from engine.bytes import BOS
from engine.config import preset
from engine.evaluate import count_chunks, evaluate_files, render_inspection
from engine.model import HNetLM

SHORT = "# Título\n\nHello, wörld — 你好.\n"
# more than one 4096-byte segment of InProcessEngine._forward_bytes
LONG = "".join(f"Line {i}: the quick brown fox, ünïcode and *markdown*.\n" for i in range(100))
OPTS = ["--device", "cpu", "--backend", "torch"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(3)
    return HNetLM(preset("tiny-2stage")).save(tmp_path_factory.mktemp("tiny-2stage"))


@pytest.fixture(scope="module")
def engine(model_dir):
    return load_engine(model_dir, backend="torch", device="cpu")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("texts")
    (d / "short.md").write_text(SHORT, encoding="utf-8")
    (d / "long.md").write_text(LONG, encoding="utf-8")
    (d / "empty.md").write_bytes(b"")
    (d / "binary.bin").write_bytes(bytes(range(256)))
    (d / "nul.txt").write_bytes(b"text\0with a NUL")
    return d


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_json_matches_engine_score_and_xz(capsys, model_dir, engine, files):
    paths = [str(files / n) for n in ("short.md", "long.md", "empty.md")]
    code, out, err = run(capsys, ["eval", "--model", str(model_dir), *OPTS, "--json", *paths])
    assert code == 0, err
    res = json.loads(out)
    assert (res["model"], res["backend"], res["device"]) == ("tiny-2stage", "torch", "cpu")
    short, long, empty = res["files"]
    for row, text in ((short, SHORT), (long, LONG)):
        data = text.encode()
        assert row["bytes"] == len(data)
        assert row["bits_per_byte"] == pytest.approx(engine.score(text), abs=1e-4)
        assert len(row["bytes_per_chunk"]) == 2 and all(b >= 1 for b in row["bytes_per_chunk"])
        xz = 8 * len(lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)) / len(data)
        assert row["xz_bits_per_byte"] == pytest.approx(xz)  # same bytes as xz -9e
        assert row["model_over_xz"] == pytest.approx(row["bits_per_byte"] / xz)
    assert empty["bytes"] == 0 and empty["bits_per_byte"] is None
    total = res["total"]
    n = len(SHORT.encode()) + len(LONG.encode())
    assert total["bytes"] == n
    weighted = (short["bits_per_byte"] * short["bytes"] + long["bits_per_byte"] * long["bytes"]) / n
    assert total["bits_per_byte"] == pytest.approx(weighted)


def test_segmented_eval_equals_one_full_pass(engine, tmp_path):
    """LONG spans two 4096-byte segments: the carried state must give what one pass over it gives."""
    data = LONG.encode()
    model = engine.model
    with torch.no_grad():
        out = model(torch.tensor([[BOS, *data]]))
    bits = F.cross_entropy(out.logits[0, :-1], torch.tensor(list(data)), reduction="sum").item() / 0.6931471805599453
    ins = engine.inspect(LONG)
    for starts, b in zip(ins.boundaries, out.boundaries):
        assert len(starts) + 1 == int(b.sum())  # + the chunk begun at BOS
    (tmp_path / "long.md").write_bytes(data)
    row = evaluate_files(model, [tmp_path / "long.md"], xz=False)["files"][0]  # a bare model is accepted too
    assert row["bits_per_byte"] == pytest.approx(bits / len(data), abs=1e-4)
    assert row["bytes_per_chunk"] == [len(data) / count_chunks(s) for s in ins.boundaries]
    assert "xz_bits_per_byte" not in row


def test_eval_table(capsys, model_dir, files):
    paths = [str(files / "short.md"), str(files / "long.md")]
    code, out, err = run(capsys, ["eval", "--model", str(model_dir), *OPTS, *paths])
    assert code == 0, err
    lines = out.splitlines()
    assert "tiny-2stage" in lines[0] and "torch" in lines[0] and "cpu" in lines[0]
    assert lines[1].split()[:3] == ["file", "bytes", "bits/byte"] and "xz" in lines[1]
    assert any(line.startswith(str(files / "long.md")) for line in lines)
    assert lines[-1].startswith("total")


@pytest.mark.parametrize("name, why", [("binary.bin", "not UTF-8 text"), ("nul.txt", "NUL"),
                                       ("missing.md", "no such file")])
def test_eval_refuses_non_text_and_missing_files(capsys, model_dir, files, name, why):
    code, out, err = run(capsys, ["eval", "--model", str(model_dir), *OPTS, str(files / "short.md"), str(files / name)])
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and why in err and name in err


@pytest.mark.parametrize("cmd", ["eval", "inspect"])
def test_missing_model_dir_is_one_line_and_exit_1(capsys, tmp_path, files, cmd):
    arg = str(files / "short.md") if cmd == "eval" else "hello"
    code, out, err = run(capsys, [cmd, "--model", str(tmp_path / "nope"), *OPTS, arg])
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no model" in err


def test_inspect_json(capsys, model_dir, engine):
    code, out, err = run(capsys, ["inspect", "--model", str(model_dir), *OPTS, "--json", SHORT])
    assert code == 0, err
    res = json.loads(out)
    n = len(SHORT.encode())
    assert res["text"] == SHORT and res["bytes"] == n
    assert len(res["entropy"]) == len(res["surprisal"]) == n
    assert all(0 <= h <= 8.0001 for h in res["entropy"])
    assert res["bits_per_byte"] == pytest.approx(engine.score(SHORT), abs=1e-3)
    s1, s2 = map(set, res["boundaries"])
    assert s2 <= s1 and all(0 <= o < n for o in s1)  # stage 2 chunks start at stage 1 chunk starts
    assert res["chunks"] == [count_chunks(b) for b in res["boundaries"]]


def test_inspect_text_rendering(capsys, model_dir, engine, files, monkeypatch):
    code, out, err = run(capsys, ["inspect", "--model", str(model_dir), *OPTS, "--file", str(files / "short.md")])
    assert code == 0, err
    lines = out.splitlines()
    assert "tiny-2stage" in lines[0] and "torch" in lines[0]
    assert lines[1] == "text  # Título↵"
    assert [ln.split()[0] for ln in lines[2:5]] == ["s1", "s2", "bits"]
    assert lines[4].split()[1].isdigit() and len(lines[4]) == len(lines[1])  # one digit per character
    assert "bits/byte" in out and "stage 2:" in out and "bytes/chunk" in out

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SHORT.encode())))
    code, out_stdin, err = run(capsys, ["inspect", "--model", str(model_dir), *OPTS, "-"])
    assert code == 0 and out_stdin == out

    ins = engine.inspect(SHORT)
    assert "\x1b[38;5;" in render_inspection(ins, color=True) and "\x1b" not in render_inspection(ins)


def test_inspect_refusals(capsys, model_dir, files):
    base = ["inspect", "--model", str(model_dir), *OPTS]
    code, out, err = run(capsys, base + ["--file", str(files / "binary.bin")])
    assert code == 1 and out == "" and "not UTF-8 text" in err
    assert run(capsys, base)[0] == 2  # neither TEXT nor --file
    assert run(capsys, base + ["hi", "--file", str(files / "short.md")])[0] == 2

