"""`scriba train`: train (or fine-tune) the byte-level H-Net on the corpus and the writer's history.

    scriba train --config default --out runs/r1 [--time-budget 1500] [--max-steps N]
    scriba train --out runs/r1 --resume                 # continue exactly where the last checkpoint left off
    torchrun --nproc_per_node 2 -m app.cli train ...    # data-parallel (DDP) on several GPUs

The training itself is engine.train's (`new_run` / `resume_run`, then `train`); this module turns the
options into a run, reads the writer's history (app.history) for --from-history, draws the progress bar
and turns SIGTERM / SIGINT into a clean stop (finish the step, save, export).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from app.cli.options import refuse
from engine.corpus import read_history_jsonl
from engine.resources import config_file

NAME = "train"

# options that set a TrainConfig / DataConfig field of the same name (a resumed run takes only some)
OVERRIDES = ("max_steps", "batch_size", "grad_accum", "lr", "warmup_steps", "eval_every", "save_every",
             "log_every", "seed", "time_budget", "device", "backend", "doc_limit", "seq_len")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="train a model on the corpus (and the writer's history)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="run config: a shipped name (default, tiny, ...) or a JSON file path "
                   "(model / data / train sections), e.g. engine/configs/default.json")
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
    p.add_argument("--from-history", metavar="DB_OR_JSONL", help="also train on accepted revisions from this "
                   "scriba store (or a .jsonl of pairs written by app.history.write_history_jsonl, where the "
                   "store's packages are missing)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: the GPU if there is one; LOCAL_RANK under torchrun)")
    p.add_argument("--backend", choices=["auto", "torch", "mamba_ssm"])
    p.add_argument("--export", help="where to write the final model (default OUT/model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    # engine.train imports torch: imported here, when training starts, so `scriba --help` stays torch-free
    from engine.train import new_run, resume_run, train

    try:
        history = read_history(args.from_history) if args.from_history else None
        overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k, None) is not None}
        if args.data:
            overrides["paths"] = list(args.data)
        if args.resume:
            the_run = resume_run(args.out, overrides, stop_after=args.stop_after, export=args.export)
        else:
            the_run = new_run(args.out, resolve_config(args.config), preset_name=args.preset, overrides=overrides,
                              init=args.init, stop_after=args.stop_after, export=args.export)
        bar = ProgressBar(enabled=not args.no_progress and os.environ.get("RANK", "0") == "0")
        with stop_on_signals() as stop:
            try:
                result = train(the_run, history=history, on_progress=bar, stop=stop)
            finally:
                bar.close()
    except (ValueError, FileNotFoundError) as exc:
        return refuse(exc, NAME)
    if result.export is not None:
        print(f"scriba train: {result.stopped} at step {result.step}; model in {result.export}", file=sys.stderr)
    return 0


def resolve_config(value: str | None) -> Path | None:
    """--config: a path to a JSON file, else the name of a shipped config (engine.resources)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_file() else config_file(value)


def read_history(path: str, option: str = "--from-history") -> list:
    """The writer's accepted changes as training pairs: from a store, or from a .jsonl of pairs. `option`:
    the command-line option that named `path`, for the message when it is not a store."""
    if str(path).endswith(".jsonl"):
        return read_history_jsonl(path)
    if not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"{option}: no store at {path}")
    # here, not at the top: the store needs sqlalchemy, which a GPU training image need not have
    from app.history import history_pairs
    from app.store.errors import StoreError

    try:
        return history_pairs(path)
    except StoreError as exc:
        raise ValueError(str(exc)) from exc


class ProgressBar:
    """tqdm on stderr, fed with the trainer's metrics records (engine.train's on_progress)."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def __call__(self, rec: dict) -> None:
        if not self.enabled:
            return
        if rec.get("event") == "start":
            self.bar = tqdm(total=rec["max_steps"], initial=rec["step"], unit="step", dynamic_ncols=True,
                            smoothing=0.05)
        elif self.bar is not None and "loss" in rec:
            self.bar.set_postfix(bpb=f"{rec['bpb']:.3f}", lr=f"{rec['lr']:.2e}",
                                 MBps=f"{(rec['bytes_per_s'] or 0) / 1e6:.2f}", refresh=False)
            self.bar.update(rec["step"] - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def stop_on_signals():
    """An event that SIGTERM / SIGINT set (the trainer finishes the step, saves and stops), for the
    duration of the block; the old handlers come back after it."""
    stop = threading.Event()
    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old[sig] = signal.signal(sig, lambda signum, frame: stop.set())
        except ValueError:  # not the main thread (e.g. called from a test runner thread)
            pass
    try:
        yield stop
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)

