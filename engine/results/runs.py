"""A training run's committed logs, read back: `logs/<run>/` holds run_config.json (the exact configs),
metrics.jsonl (the trainer's log: a start event, a line every log_every steps, a "val" line per evaluation,
an end event), run.json (label, family, command, machine, data, note, and `init`: the run it started from)
and flops.json (engine.results.flops). Torch-free.

Training FLOPs are summed between log lines: the bytes trained since the previous line times the FLOPs
per byte at the compression ratio logged on the line (an isotropic model logs none: ratio-free). A run
started from another (`init`) carries that run's final FLOPs and bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FLOPS_FILE = "flops.json"  # written by engine.results.flops (which counts with the model: torch)


def flops_per_byte(per_depth: list[float], compression: list[float]) -> float:
    """FLOPs per byte at the given compression ratios (one per stage), from flops.json's per-depth terms:
    depth d runs at 1 / (r_1 ... r_d) of the bytes."""
    total, rate = 0.0, 1.0
    for d, c in enumerate(per_depth):
        total += c * rate
        if d < len(compression):
            rate /= compression[d]
    return total


class LogError(ValueError):
    """A run folder that cannot be read as a run's logs. One-line message."""


@dataclass
class Evaluation:
    step: int
    bytes: float  # bytes trained, the init run's included
    flops: float  # training FLOPs, the init run's included
    phase: str  # learning rate then: warmup, peak, decay
    val: dict[str, float]  # "all", "kind/…", "source/…": bits per byte


@dataclass
class Run:
    name: str
    meta: dict
    config: dict
    per_depth: list[float]
    params: int
    steps: int = 0
    bytes: float = 0.0
    flops: float = 0.0
    stopped: str = ""
    compression: list[float] = field(default_factory=list)  # the last logged ratios
    evals: list[Evaluation] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.meta.get("label", self.name)

    @property
    def final(self) -> Evaluation | None:
        return self.evals[-1] if self.evals else None

    def flops_per_byte(self) -> float:
        return flops_per_byte(self.per_depth, self.compression)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LogError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise LogError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None


def read_metrics(path: Path) -> list[dict]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LogError(f"{path}: missing") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise LogError(f"{path}:{n}: not a JSON line") from None
    return out


def lr_phase(lrs: list[tuple[int, float]], step: int, peak: float, warmup: int) -> str:
    """warmup, peak or decay at `step`, from the logged learning rates."""
    if step <= warmup:
        return "warmup"
    before = [lr for s, lr in lrs if s <= step]
    lr = before[-1] if before else None
    if lr is None or abs(lr - peak) <= 1e-6 * peak:
        return "peak"
    return "decay"


def read_run(folder: str | Path, base: Run | None = None) -> Run:
    """One run folder; `base`: the run its `init` names, already read."""
    folder = Path(folder)
    meta = _read_json(folder / "run.json") if (folder / "run.json").exists() else {}
    config = _read_json(folder / "run_config.json")
    fl = _read_json(folder / FLOPS_FILE)
    run = Run(folder.name, meta, config, fl["per_depth"], fl.get("params", 0))
    records = read_metrics(folder / "metrics.jsonl")
    start = next((r for r in records if r.get("event") == "start"), {})
    per_step = start.get("bytes_per_step") or config["train"]["batch_size"] * config["data"]["seq_len"]
    peak, warmup = config["train"]["lr"], config["train"]["warmup_steps"]
    b0, f0 = (base.bytes, base.flops) if base else (0.0, 0.0)
    trained, flops, ratios, lrs = 0.0, 0.0, [], []
    for r in records:
        if "loss" in r and "bytes" in r:
            ratios = r.get("compression") or []
            flops += (r["bytes"] - trained) * flops_per_byte(run.per_depth, ratios)
            trained = r["bytes"]
            lrs.append((r["step"], r.get("lr")))
            run.steps = r["step"]
        elif "val" in r:
            b = r["step"] * per_step
            f = flops + (b - trained) * flops_per_byte(run.per_depth, ratios)
            run.evals.append(Evaluation(r["step"], b0 + b, f0 + f, lr_phase(lrs, r["step"], peak, warmup), r["val"]))
        elif r.get("event") == "end":
            run.stopped = r.get("stopped", "")
            run.steps = r.get("step", run.steps)
    total = run.steps * per_step
    run.bytes = b0 + total
    run.flops = f0 + flops + (total - trained) * flops_per_byte(run.per_depth, ratios)
    run.compression = ratios
    return run


def read_runs(logs_dir: str | Path) -> list[Run]:
    """Every run folder under logs_dir (a folder with run_config.json), a run's `init` read before it."""
    logs_dir = Path(logs_dir)
    if not logs_dir.is_dir():
        raise LogError(f"{logs_dir}: no such folder")
    folders = {p.name: p for p in sorted(logs_dir.iterdir()) if (p / "run_config.json").exists()}
    done: dict[str, Run] = {}

    def visit(name: str, seen: tuple = ()) -> Run:
        if name in done:
            return done[name]
        if name in seen:
            raise LogError(f"{logs_dir}: runs start from each other in a circle ({' -> '.join(seen + (name,))})")
        if name not in folders:
            raise LogError(f"{logs_dir}: run {seen[-1]!r} starts from {name!r}, which has no logs here")
        meta_path = folders[name] / "run.json"
        init = _read_json(meta_path).get("init") if meta_path.exists() else None
        base = visit(init, seen + (name,)) if init else None
        done[name] = read_run(folders[name], base)
        return done[name]

    return [visit(n) for n in folders]


def value_at(run: Run, flops: float, key: str = "all") -> tuple[float | None, set[str]]:
    """The run's validation bits per byte at `flops`, linear between its evaluations (None outside them),
    and the learning-rate phases of the evaluations it comes from."""
    pts = [(e.flops, e.val[key], e.phase) for e in run.evals if key in e.val]
    for f, v, ph in pts:
        if f == flops:
            return v, {ph}
    for (fa, va, pa), (fb, vb, pb) in zip(pts, pts[1:]):
        if fa < flops < fb:
            return va + (vb - va) * (flops - fa) / (fb - fa), {pa, pb}
    return None, set()
