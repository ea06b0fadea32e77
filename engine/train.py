"""`scriba train`: train (or fine-tune) the byte-level H-Net on the corpus and the writer's history.

    scriba train --config engine/configs/default.json --out runs/r1 [--time-budget 1500] [--max-steps N]
    scriba train --out runs/r1 --resume                 # continue exactly where the last checkpoint left off
    torchrun --nproc_per_node 2 -m engine.train ...     # data-parallel (DDP) on several GPUs

bf16 autocast on CUDA with fp32 master weights, fused AdamW, warmup + cosine (or WSD) schedule, gradient
clipping, per-stage learning-rate multipliers (ModelConfig.lr_multiplier, by depth), the ratio loss (its
weight is applied by the model), periodic validation (bits per byte per source and per example kind),
checkpoints (OUT/ckpt: model.safetensors + config.json, and trainer.pt with optimizer, step, RNG and data
position) that resume exactly, a progress bar with bytes/s and ETA, metrics in OUT/metrics.jsonl, and the
final model in OUT/model (a model directory `load_engine` reads).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("scriba.train")

CKPT = "ckpt"
TRAINER_STATE = "trainer.pt"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    batch_size: int = 8  # rows per micro-batch per process
    grad_accum: int = 1
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # final lr = lr * min_lr_ratio
    warmup_steps: int = 200
    max_steps: int = 10_000
    schedule: str = "cosine"  # cosine | wsd (warmup, stable, linear decay over decay_fraction) | constant
    decay_fraction: float = 0.2
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    grad_clip: float = 1.0
    eval_every: int = 500
    save_every: int = 1000
    log_every: int = 10
    seed: int = 0
    time_budget: float | None = None  # seconds of training in this run; the schedule also follows it
    precision: str = "bf16"  # bf16 autocast on CUDA (fp32 master weights); fp32 everywhere else
    backend: str = "auto"
    device: str | None = None
    doc_limit: int | None = None  # read at most this many documents (smoke tests)
    export_dtype: str = "float32"  # the final model's weights: float32 | float16 | bfloat16 | int8 (engine/quant.py)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown train config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


# ---------------------------------------------------------------------------------------- schedule
def lr_factor(step: int, cfg: TrainConfig, progress: float | None = None) -> float:
    """Multiplier of the base lr at `step` (0-based). progress in [0, 1] overrides step/max_steps for the
    decay part (used with a time budget: the schedule follows whichever of steps or time is further)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if progress is None:
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
    lo = cfg.min_lr_ratio
    if cfg.schedule == "cosine":
        return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "wsd":
        start = 1 - cfg.decay_fraction
        return 1.0 if progress < start else 1.0 - (1 - lo) * (progress - start) / max(cfg.decay_fraction, 1e-9)
    if cfg.schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {cfg.schedule!r} (cosine, wsd, constant)")


def param_groups(model, cfg: TrainConfig) -> list[dict]:
    """AdamW groups by (depth, decay): lr multiplier ModelConfig.lr_multiplier[depth], where depth counts the
    `inner` modules on a parameter's path (0 = byte level). No weight decay on norms, biases, SSM A/D/dt
    parameters and the embedding."""
    if hasattr(model, "param_groups_by_stage"):
        by_depth = {int(d): list(ps) for d, ps in model.param_groups_by_stage().items()}
        names = {id(p): n for n, p in model.named_parameters()}
        items = [(d, names[id(p)], p) for d, ps in by_depth.items() for p in ps]
    else:
        items = [(name.split(".").count("inner"), name, p) for name, p in model.named_parameters()]
    mult = list(model.config.lr_multiplier)
    groups: dict[tuple[int, bool], dict] = {}
    for depth, name, p in items:
        if not p.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        decay = p.ndim >= 2 and not name.startswith("embed") and leaf not in ("A_log", "D", "dt_bias")
        g = groups.setdefault((depth, decay), {
            "params": [], "names": [], "depth": depth, "lr_mult": mult[min(depth, len(mult) - 1)],
            "weight_decay": cfg.weight_decay if decay else 0.0})
        g["params"].append(p)
        g["names"].append(name)
    return [groups[k] for k in sorted(groups)]


# ---------------------------------------------------------------------------------------- config files
def load_run_config(path: str | Path | None):
    """(ModelConfig, DataConfig, TrainConfig) from a JSON file {"model": {...} | {"preset": NAME, ...},
    "data": {...}, "train": {...}}; defaults where absent."""
    from engine.config import ModelConfig, PRESETS
    from engine.data import DataConfig

    raw = json.loads(Path(path).read_text()) if path else {}
    unknown = set(raw) - {"model", "data", "train", "comment"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (model, data, train)")
    m = dict(raw.get("model", {}))
    name = m.pop("preset", None)
    base = dict(PRESETS[name]) if name else {}
    if name and name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}")
    model_cfg = ModelConfig.from_dict({**base, **m})
    return model_cfg, DataConfig.from_dict(raw.get("data", {})), TrainConfig.from_dict(raw.get("train", {}))


# ---------------------------------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="run config JSON (model / data / train sections), e.g. engine/configs/default.json")
    p.add_argument("--out", default="runs/train", help="run directory: checkpoints, metrics.jsonl, model/")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt (exactly: same data, same curve)")
    p.add_argument("--init", help="start from this model directory's weights (fine-tuning), e.g. assets/model")
    p.add_argument("--preset", help="model preset (overrides the config's model section): tiny, tiny-2stage, ...")
    p.add_argument("--max-steps", type=int, help="total optimizer steps of the schedule")
    p.add_argument("--stop-after", type=int, help="stop (and save) after this many steps in this run")
    p.add_argument("--time-budget", type=float, help="seconds: stop and save cleanly when exceeded")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--seq-len", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--save-every", type=int)
    p.add_argument("--log-every", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--data", action="append", help="corpus file or folder (repeatable; default: the shared corpus)")
    p.add_argument("--doc-limit", type=int, help="read at most this many documents")
    p.add_argument("--from-history", metavar="DB", help="also train on accepted revisions from this scriba store "
                   "(or a .jsonl of pairs written by app.actions.write_history_jsonl, where the store's packages are missing)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: the GPU if there is one; LOCAL_RANK under torchrun)")
    p.add_argument("--backend", choices=["auto", "torch", "mamba_ssm"])
    p.add_argument("--export", help="where to write the final model (default OUT/model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scriba train", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"scriba train: {exc}", file=sys.stderr)
        return 1


def _apply_overrides(args, model_cfg, data_cfg, train_cfg):
    from engine.config import preset

    if args.preset:
        model_cfg = preset(args.preset)
    for arg, obj, key in [("max_steps", train_cfg, "max_steps"), ("batch_size", train_cfg, "batch_size"),
                          ("grad_accum", train_cfg, "grad_accum"), ("lr", train_cfg, "lr"),
                          ("warmup_steps", train_cfg, "warmup_steps"), ("eval_every", train_cfg, "eval_every"),
                          ("save_every", train_cfg, "save_every"), ("log_every", train_cfg, "log_every"),
                          ("seed", train_cfg, "seed"), ("time_budget", train_cfg, "time_budget"),
                          ("device", train_cfg, "device"), ("backend", train_cfg, "backend"),
                          ("doc_limit", train_cfg, "doc_limit"), ("seq_len", data_cfg, "seq_len")]:
        v = getattr(args, arg, None)
        if v is not None:
            setattr(obj, key, v)
    if args.data:
        data_cfg.paths = list(args.data)
    return model_cfg, data_cfg, train_cfg


# ---------------------------------------------------------------------------------------- the run
class _Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def run(args) -> int:
    import torch

    from engine import data as D
    from engine.model import HNetLM

    out = Path(args.out)
    ckpt_dir = out / CKPT
    resume_state = None
    if args.resume:
        if not (ckpt_dir / TRAINER_STATE).is_file():
            raise FileNotFoundError(f"nothing to resume: {ckpt_dir / TRAINER_STATE} is missing")
        resume_state = torch.load(ckpt_dir / TRAINER_STATE, map_location="cpu", weights_only=False)
        from engine.config import ModelConfig

        model_cfg = ModelConfig.load(ckpt_dir / "config.json")
        data_cfg = D.DataConfig.from_dict(resume_state["data_config"])
        train_cfg = TrainConfig.from_dict(resume_state["train_config"])
        for a in ("max_steps", "time_budget", "eval_every", "save_every", "log_every", "device", "backend"):
            v = getattr(args, a.replace("-", "_"), None)
            if v is not None:
                setattr(train_cfg, a, v)
    else:
        model_cfg, data_cfg, train_cfg = load_run_config(args.config)
        model_cfg, data_cfg, train_cfg = _apply_overrides(args, model_cfg, data_cfg, train_cfg)

    dist = _Dist()
    if dist.enabled:
        import torch.distributed as tdist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        tdist.init_process_group(backend)
    if train_cfg.device:
        device = torch.device(train_cfg.device)
    elif torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = device.type == "cuda" and train_cfg.precision == "bf16"

    # ---- model and optimizer
    torch.manual_seed(train_cfg.seed)
    random.seed(train_cfg.seed)
    model = HNetLM(model_cfg)
    if args.init and not resume_state:
        init = HNetLM.load(args.init, device="cpu", backend="torch")
        model = HNetLM(init.config)
        model.load_state_dict(init.state_dict())
        model_cfg = init.config
    if resume_state:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt_dir / "model.safetensors")))
    model.to(device)
    model.train()
    backend = model.set_backend(train_cfg.backend)
    groups = param_groups(model, train_cfg)
    opt_kwargs = dict(lr=train_cfg.lr, betas=tuple(train_cfg.betas), eps=train_cfg.eps)
    if device.type == "cuda":
        opt_kwargs["fused"] = True
    optimizer = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups], **opt_kwargs)
    step, elapsed_before, bytes_seen = 0, 0.0, 0
    stream_state = None
    if resume_state:
        optimizer.load_state_dict(resume_state["optimizer"])
        step = resume_state["step"]
        elapsed_before = resume_state.get("elapsed", 0.0)
        bytes_seen = resume_state.get("bytes_seen", 0)
        stream_state = D.StreamState.from_dict(resume_state["data"][dist.rank if dist.rank < len(resume_state["data"]) else 0])
        _set_rng(resume_state["rng"])
    train_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    # ---- data
    history = None
    if args.from_history:
        # The one place engine reads the writer's history: app.actions turns the store's revisions into
        # (document before, span, new text) pairs. Imported here, at use, so engine never imports app otherwise.
        if str(args.from_history).endswith(".jsonl"):  # pairs exported by app.actions.write_history_jsonl
            history = D.read_history_jsonl(args.from_history)
        else:
            from app.actions import history_pairs

            history = history_pairs(args.from_history)
        if dist.main:
            log.warning("history: %d accepted revisions from %s", len(history), args.from_history)
    t_load = time.time()
    train_docs, val_docs = D.load_documents(data_cfg.paths, data_cfg.val_fraction, train_cfg.doc_limit)
    if not train_docs and val_docs:
        log.warning("all %d documents fell in the validation split; training on them too", len(val_docs))
        train_docs = val_docs
    if not train_docs and not history:
        raise ValueError("no training documents")
    stream = D.ExampleStream(train_docs, data_cfg, seed=train_cfg.seed, rank=dist.rank, world=dist.world,
                             history=history, state=stream_state)
    val_set = D.validation_set(val_docs, data_cfg) if dist.main else []
    if dist.main:
        log.info("data: %d train / %d validation documents (%.1f s), %d validation examples",
                 len(train_docs), len(val_docs), time.time() - t_load, len(val_set))
    loader = D.Loader(stream, train_cfg.batch_size * train_cfg.grad_accum, pin_memory=device.type == "cuda")

    # ---- bookkeeping
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(json.dumps(
            {"model": json.loads(model_cfg.to_json()), "data": data_cfg.to_dict(), "train": asdict(train_cfg)},
            indent=2) + "\n")
    metrics = _Metrics(out / METRICS if dist.main else None)
    bytes_per_step = train_cfg.batch_size * train_cfg.grad_accum * data_cfg.seq_len * dist.world
    stop_after = getattr(args, "stop_after", None)
    end_step = train_cfg.max_steps if stop_after is None else min(train_cfg.max_steps, step + stop_after)
    bar = None
    if dist.main and not getattr(args, "no_progress", False):
        try:
            from tqdm import tqdm

            bar = tqdm(total=train_cfg.max_steps, initial=step, unit="step", dynamic_ncols=True, smoothing=0.05)
        except ImportError:
            bar = None
    if dist.main:
        metrics.write({"event": "start", "step": step, "device": str(device), "backend": backend,
                       "params": model.num_params(), "world": dist.world, "bytes_per_step": bytes_per_step,
                       "resumed": bool(resume_state)})

    interrupted = {"flag": False}

    def _on_signal(signum, frame):  # SIGTERM / SIGINT: finish the step, save, stop
        interrupted["flag"] = True

    old_handlers = {}
    if dist.main or not dist.enabled:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                old_handlers[sig] = signal.signal(sig, _on_signal)
            except ValueError:  # not the main thread (e.g. called from a test runner thread)
                pass

    data_state = stream.state_dict()
    t_start = time.time()
    t_last, bytes_last = t_start, bytes_seen
    loss_acc = torch.zeros((), device=device)
    ratio_acc = torch.zeros((), device=device)
    n_acc = 0
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else nullcontext
    last_out = None
    reason = "max_steps"
    t_step = time.time()
    try:
        while step < end_step:
            batch, data_state = next(loader)
            batch = batch.to(device, non_blocking=True)
            lr_prog = None
            elapsed = time.time() - t_start
            if train_cfg.time_budget:
                lr_prog = _progress(step, train_cfg, elapsed_before + elapsed, train_cfg.time_budget + elapsed_before)
            factor = lr_factor(step, train_cfg, lr_prog)
            for g in optimizer.param_groups:
                g["lr"] = train_cfg.lr * factor * g["lr_mult"]
            micro = batch.split(train_cfg.batch_size)
            for i, ids in enumerate(micro):
                sync = i == len(micro) - 1
                ctx = train_model.no_sync() if (dist.enabled and not sync) else nullcontext()
                with ctx:
                    with autocast():
                        out_ = train_model(ids)
                    ce = torch.nn.functional.cross_entropy(
                        out_.logits[:, :-1].float().reshape(-1, out_.logits.shape[-1]), ids[:, 1:].reshape(-1))
                    loss = ce + out_.ratio_loss.float()
                    (loss / len(micro)).backward()
                loss_acc += ce.detach()
                ratio_acc += out_.ratio_loss.detach().float()
                n_acc += 1
                last_out = out_
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip) if train_cfg.grad_clip else None
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bytes_seen += bytes_per_step

            if step % train_cfg.log_every == 0 or step == end_step:
                now = time.time()
                loss_v = float(loss_acc) / max(n_acc, 1)
                rec = {"step": step, "loss": loss_v, "bpb": loss_v / math.log(2),
                       "ratio_loss": float(ratio_acc) / max(n_acc, 1), "lr": train_cfg.lr * factor,
                       "grad_norm": None if gnorm is None else float(gnorm),
                       "bytes_per_s": (bytes_seen - bytes_last) / max(now - t_last, 1e-9),
                       "elapsed": elapsed_before + now - t_start, "bytes": bytes_seen}
                if last_out is not None and last_out.boundaries:
                    rec["compression"] = [round(c, 3) for c in last_out.compression()]
                if dist.enabled:
                    rec["loss"] = _all_mean(rec["loss"], device)
                    rec["bpb"] = rec["loss"] / math.log(2)
                metrics.write(rec)
                if bar is not None:
                    bar.set_postfix(bpb=f"{rec['bpb']:.3f}", lr=f"{rec['lr']:.2e}",
                                    MBps=f"{(rec['bytes_per_s'] or 0) / 1e6:.2f}", refresh=False)
                t_last, bytes_last = now, bytes_seen
                loss_acc.zero_()
                ratio_acc.zero_()
                n_acc = 0
            if bar is not None:
                bar.update(1)

            if train_cfg.eval_every and step % train_cfg.eval_every == 0 and step < end_step:
                _eval_and_log(model, val_set, train_cfg, data_cfg, device, use_bf16, metrics, step, dist)
            if train_cfg.save_every and step % train_cfg.save_every == 0 and step < end_step:
                _save(model, optimizer, step, data_state, elapsed_before + time.time() - t_start, bytes_seen,
                      data_cfg, train_cfg, ckpt_dir, dist)

            stop = interrupted["flag"]
            now = time.time()
            last_step_s, t_step = now - t_step, now
            if train_cfg.time_budget:
                spent = now - t_start
                stop = stop or spent + 1.5 * last_step_s > train_cfg.time_budget
                if stop and not interrupted["flag"]:
                    reason = "time_budget"
            if interrupted["flag"]:
                reason = "interrupted"
            if dist.enabled:
                stop = _all_any(stop, device)
            if stop:
                break
        else:
            reason = "max_steps" if step >= train_cfg.max_steps else "stop_after"
    finally:
        loader.close()
        if bar is not None:
            bar.close()
        for sig, h in old_handlers.items():
            signal.signal(sig, h)

    elapsed_total = elapsed_before + time.time() - t_start
    _save(model, optimizer, step, data_state, elapsed_total, bytes_seen, data_cfg, train_cfg, ckpt_dir, dist)
    results = _eval_and_log(model, val_set, train_cfg, data_cfg, device, use_bf16, metrics, step, dist)
    if dist.main:
        export = Path(args.export) if getattr(args, "export", None) else out / "model"
        extra = {"steps": step, "bytes": bytes_seen, "elapsed_s": round(elapsed_total, 1), "device": str(device),
                 "backend": backend, "world": dist.world, "stopped": reason, "val": results,
                 "data": {"paths": data_cfg.paths or [str(D.corpus_dir())], "seq_len": data_cfg.seq_len,
                          "mixture": data_cfg.mixture}}
        dtype = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": "int8"}[train_cfg.export_dtype]
        model.save(export, dtype=dtype, extra=extra)
        metrics.write({"event": "end", "step": step, "stopped": reason, "elapsed": elapsed_total, "export": str(export)})
        print(f"scriba train: {reason} at step {step}; model in {export}", file=sys.stderr)
    if dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    return 0


def _progress(step: int, cfg: TrainConfig, elapsed: float, budget: float) -> float:
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    by_steps = (step - cfg.warmup_steps) / span
    return min(1.0, max(by_steps, elapsed / max(budget, 1e-9)))


def _all_mean(x: float, device) -> float:
    import torch
    import torch.distributed as tdist

    t = torch.tensor([x], device=device, dtype=torch.float64)
    tdist.all_reduce(t)
    return float(t) / tdist.get_world_size()


def _all_any(flag: bool, device) -> bool:
    import torch
    import torch.distributed as tdist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item() > 0)


class _Metrics:
    def __init__(self, path: Path | None):
        self.path = path

    def write(self, rec: dict) -> None:
        if self.path is None:
            return
        rec = {"time": round(time.time(), 3), **rec}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------------------- RNG and checkpoints
def _rng_state() -> dict:
    import torch

    st = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng(st: dict) -> None:
    import torch

    random.setstate(st["python"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(st["cuda"])
        except (RuntimeError, IndexError):  # a different number of GPUs: not bit-exact, still fine
            pass


def _save(model, optimizer, step, data_state, elapsed, bytes_seen, data_cfg, train_cfg, ckpt_dir: Path, dist) -> None:
    """Write OUT/ckpt atomically (a temporary folder renamed over the old one). Every rank's data position
    is gathered so a resumed DDP run continues each rank's stream."""
    import torch

    states = [data_state]
    if dist.enabled:
        import torch.distributed as tdist

        states = [None] * dist.world
        tdist.all_gather_object(states, data_state)
    if not dist.main:
        return
    tmp = ckpt_dir.with_name(ckpt_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "data": states, "rng": _rng_state(),
                "elapsed": elapsed, "bytes_seen": bytes_seen, "data_config": data_cfg.to_dict(),
                "train_config": asdict(train_cfg)}, tmp / TRAINER_STATE)
    old = ckpt_dir.with_name(ckpt_dir.name + ".old")
    if ckpt_dir.exists():
        if old.exists():
            shutil.rmtree(old)
        ckpt_dir.rename(old)
    tmp.rename(ckpt_dir)
    if old.exists():
        shutil.rmtree(old)


# ---------------------------------------------------------------------------------------- validation
def evaluate(model, examples, device, use_bf16: bool = False, batch_size: int = 8) -> dict:
    """Bits per byte of the model on each example's own target bytes (the middle and EOS for an infill,
    everything after BOS for plain text), overall, per kind and per source."""
    import torch
    import torch.nn.functional as F

    if not examples:
        return {}
    was_training = model.training
    model.eval()
    sums: dict[str, list[float]] = {}

    def add(key, nats, n):
        s = sums.setdefault(key, [0.0, 0])
        s[0] += nats
        s[1] += n

    order = sorted(range(len(examples)), key=lambda i: len(examples[i].data))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext()
    with torch.no_grad():
        for k in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[k:k + batch_size]]
            L = max(len(e.data) for e in chunk)
            ids = torch.zeros(len(chunk), L, dtype=torch.long)
            for r, e in enumerate(chunk):
                ids[r, :len(e.data)] = torch.tensor(list(e.data))
            ids = ids.to(device)
            with autocast:
                logits = model(ids).logits
            nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                  reduction="none").view(len(chunk), L - 1).cpu()
            for r, e in enumerate(chunk):
                nats = float(nll[r, e.target_start - 1:len(e.data) - 1].sum())
                n = len(e.data) - e.target_start
                add("all", nats, n)
                add(f"kind/{e.kind}", nats, n)
                add(f"source/{e.source}", nats, n)
    if was_training:
        model.train()
    return {k: round(v[0] / max(v[1], 1) / math.log(2), 5) for k, v in sorted(sums.items())}


def _eval_and_log(model, val_set, train_cfg, data_cfg, device, use_bf16, metrics, step, dist) -> dict:
    results = {}
    if dist.main and val_set:
        results = evaluate(model, val_set, device, use_bf16, batch_size=max(1, train_cfg.batch_size))
        metrics.write({"step": step, "val": results})
        log.info("step %d: validation bpb %s", step, results.get("all"))
    if dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()
    return results


if __name__ == "__main__":
    sys.exit(main())
