"""The `scriba` command line (app/cli/): dispatch to one module per command, help, usage errors (exit 2),
an unknown command, refusals (exit 1), and that a command's module — and torch — is imported only when
that command needs it. Real subprocesses where a fresh interpreter matters, `main([...])` otherwise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from app import cli
from app.cli import COMMANDS, build_parser, is_unknown_command, main
from engine.config import preset
from engine.model import WEIGHTS, HNetLM

TEXT = "# Trip\n\nWe left at dawn. The road was empty.\n"
CPU = ["--device", "cpu", "--backend", "torch"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def python(code: str, tmp_path, *args) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (nothing imported yet), from a folder outside the checkout."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


# ---------------------------------------------------------------- the command modules
def test_every_command_is_a_module_with_name_parser_and_run():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)
    for command in COMMANDS:
        module = cli.command_module(command)
        assert module.__name__ == f"app.cli.{COMMANDS[command]}"
        assert module.NAME == command and callable(module.run)
        assert sub.choices[command].prog == f"scriba {command}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_exits_0(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: scriba {command}")


def test_help_lists_every_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # argparse wraps help at the terminal's width: no "check-\nroundtrip"
    code, out, _ = run(capsys, "help")
    assert code == 0 and out.startswith("usage: scriba")
    assert all(command in out for command in COMMANDS)
    code, out, _ = run(capsys, "--help")  # the editor's help names the commands too
    assert code == 0 and "FILE" in out and all(command in out for command in COMMANDS)


def test_dispatch_runs_the_commands_module(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBA_DB", str(tmp_path / "cli.db"))
    (tmp_path / "trip.md").write_text(TEXT, encoding="utf-8")
    code, out, _ = run(capsys, "import", str(tmp_path / "trip.md"))
    assert code == 0 and out.startswith("imported ")
    code, out, _ = run(capsys, "tree", str(tmp_path / "trip.md"))
    assert code == 0 and out.splitlines()[0].startswith("Trip") and "sentence: We left at dawn." in out
    code, out, _ = run(capsys, "check-roundtrip", str(tmp_path / "trip.md"))
    assert code == 0 and out.startswith("1 documents, 0 failures")


# ---------------------------------------------------------------- usage and refusals
@pytest.mark.parametrize("argv", [["export"], ["import", "a.md", "--bogus"], ["history"], ["tree", "a", "b"],
                                  ["eval"], ["bench", "--size", "huge"], ["quantize", "only-one"],
                                  ["--bogus"], ["a.md", "b.md"], ["inspect", "--json"]])
def test_bad_usage_exits_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err, argv


def test_unknown_command_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "frobnicate")
    assert code == 2 and out == ""
    assert err.startswith("scriba: unknown command 'frobnicate'") and len(err.splitlines()) == 1
    assert not (tmp_path / "frobnicate").exists()
    code, _, err = run(capsys, "--db", str(tmp_path / "x.db"), "exprot")
    assert code == 2 and "unknown command 'exprot'" in err


def test_what_a_bare_word_means(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOTES").write_text("an existing file without a suffix")
    assert is_unknown_command("frobnicate") and is_unknown_command("Export")
    for word in ("new.md", "New.MD", "essay.markdown", "todo.txt", "drafts/new", "./draft", "NOTES"):
        assert not is_unknown_command(word), word


def test_check_roundtrip_refusals(capsys, tmp_path):
    code, out, err = run(capsys, "check-roundtrip", str(tmp_path / "missing.md"))
    assert code == 1 and out == "" and err == f"scriba: not found: {tmp_path / 'missing.md'}\n"
    (tmp_path / "bin.md").write_bytes(b"\x00\x01 binary")
    code, out, _ = run(capsys, "check-roundtrip", str(tmp_path / "bin.md"))
    assert code == 1 and "refused" in out and out.splitlines()[-1].startswith("1 documents, 1 failures")


def test_check_roundtrip_defaults_to_the_shared_corpus(capsys, tmp_path, monkeypatch):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl").write_text(json.dumps({"id": "x", "text": TEXT}) + "\n")
    monkeypatch.setenv("SCRIBA_SHARED", str(tmp_path))
    code, out, _ = run(capsys, "check-roundtrip")
    assert code == 0 and out.startswith("1 documents, 0 failures")


# ---------------------------------------------------------------- what gets imported
def test_import_app_cli_and_help_import_no_command_module_and_no_torch(tmp_path):
    code = ("import sys, app.cli\n"
            "loaded = lambda: sorted(m for m in sys.modules if m.startswith('app.cli.'))\n"
            "assert loaded() == ['app.cli.options'], loaded()\n"
            "rc = app.cli.main(['--help'])\n"
            "assert rc == 0 and loaded() == ['app.cli.options'], (rc, loaded())\n"
            "assert 'torch' not in sys.modules and 'textual' not in sys.modules\n")
    result = python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "scriba COMMAND -h" in result.stdout


def test_a_command_imports_only_its_own_module(tmp_path):
    (tmp_path / "trip.md").write_text(TEXT, encoding="utf-8")
    code = ("import sys, app.cli\n"
            "rc = app.cli.main(['import', 'trip.md', '--db', 'x.db'])\n"
            "rc += app.cli.main(['tree', 'trip.md', '--db', 'x.db'])\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('app.cli.'))\n"
            "assert rc == 0 and loaded == ['app.cli.import_', 'app.cli.options', 'app.cli.tree'], (rc, loaded)\n"
            "assert 'torch' not in sys.modules\n")
    result = python(code, tmp_path)
    assert result.returncode == 0, result.stderr


def test_full_help_and_document_commands_import_no_torch(tmp_path):
    (tmp_path / "trip.md").write_text(TEXT, encoding="utf-8")
    code = ("import sys, app.cli\n"
            "for argv in (['help'], ['import', 'trip.md'], ['export', 'trip.md'], ['history', 'trip.md'],\n"
            "             ['tree', 'trip.md'], ['check-roundtrip', 'trip.md']):\n"
            "    db = [] if argv[0] in ('help', 'check-roundtrip') else ['--db', 'x.db']\n"
            "    assert app.cli.main(argv + db) == 0, argv\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = python(code, tmp_path)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_app_cli_is_scriba(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app.cli", "frobnicate"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "unknown command" in result.stderr


# ---------------------------------------------------------------- the engine commands
@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    torch.manual_seed(5)
    return HNetLM(preset("tiny")).save(tmp_path_factory.mktemp("tiny"), extra={"steps": 7})


def test_quantize_resaves_int8_and_keeps_the_training_notes(capsys, tmp_path, float_model):
    from safetensors.torch import load_file

    code, out, err = run(capsys, "quantize", str(float_model), str(tmp_path / "q"))
    assert code == 0, err
    assert out == f"{tmp_path / 'q'}: int8 weights, {(tmp_path / 'q' / WEIGHTS).stat().st_size / 1e6:.1f} MB\n"
    stored = load_file(str(tmp_path / "q" / WEIGHTS))
    assert any(t.dtype == torch.int8 for t in stored.values())
    assert json.loads((tmp_path / "q" / "config.json").read_text())["training"] == {"steps": 7}
    reloaded, original = HNetLM.load(tmp_path / "q", backend="torch"), HNetLM.load(float_model, backend="torch")
    ids = torch.tensor([list(b"# Trip\n\nWe left.")])
    with torch.no_grad():
        assert torch.allclose(reloaded(ids).logits, original(ids).logits, atol=0.05)


def test_quantize_refuses_a_missing_model_in_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "quantize", str(tmp_path / "nope"), str(tmp_path / "q"))
    assert code == 1 and out == "" and err.startswith("scriba quantize: no model at") and err.count("\n") == 1
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_bench_json_on_the_tiny_preset(capsys):
    code, out, err = run(capsys, "bench", "--size", "tiny", "--seq-len", "64", "--steps", "1", "--json", *CPU)
    assert code == 0, err
    report = json.loads(out)
    hnet, baseline = report["models"]
    assert hnet["name"] == "hnet-tiny" and baseline["name"].startswith("iso-m")
    assert hnet["params"] == HNetLM(preset("tiny")).num_params()
    assert report["seq_len"] == 64 and report["backend"] == "torch"
    assert all(m["train_bytes_per_s"] > 0 and m["decode_us_per_byte_b1"] > 0 for m in report["models"])


@pytest.mark.slow
def test_bench_model_reports_prefill_and_decode(capsys, float_model):
    code, out, err = run(capsys, "bench", "--model", str(float_model), *CPU)
    assert code == 0, err
    lines = out.splitlines()  # the fast path and the reference, timed in the same run, then their ratios
    assert "tiny" in lines[0] and lines[1].startswith("fast (") and lines[5].startswith("reference")
    for block in (lines[2:5], lines[6:9]):
        assert block[0].startswith("  prefill ") and block[1].startswith("  decode, 1 candidate(s): ")
        assert block[2].startswith("  decode, 3 candidate(s): ")
    assert lines[9].startswith("fast / reference: prefill ") and len(lines) == 10
    code, out, err = run(capsys, "bench", "--model", str(float_model.parent / "nope"), *CPU)
    assert code == 1 and out == "" and err.startswith("scriba bench: ") and err.count("\n") == 1
