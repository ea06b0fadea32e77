"""The training loop: one `Trainer` per process carries out a `Run` (engine.train.config).

bf16 autocast on CUDA with fp32 master weights, gradient accumulation (DDP syncs on the last
micro-batch only), gradient clipping, the ratio loss (its weight is applied by the model), the lr
schedule following steps or a time budget, periodic validation and checkpoints, and a clean stop
(save, validate, export) on max_steps, --stop-after, the time budget or the `stop` event. Progress goes
to OUT/metrics.jsonl, to `logging` and to the `on_progress` callback (every metrics record); nothing
is printed.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from engine.corpus import corpus_dir, load_documents
from engine.data import ExampleStream, Loader, StreamState, validation_set
from engine.metrics import nats_to_bits
from engine.model import HNetLM
from engine.protocol import HistoryPair
from engine.spans import SpanTable, span_tables
from engine.train import checkpoint
from engine.train.config import METRICS, Run
from engine.train.distributed import Dist
from engine.train.optim import budget_progress, lr_factor, make_optimizer, set_lr
from engine.train.validate import evaluate

log = logging.getLogger("scriba.train")

Progress = Callable[[dict], None]
COMPILE_STEPS = 2  # steps that compile kernels: outside the time budget (see Trainer._stop_reason)
EXPORT_DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": "int8"}


@dataclass
class TrainResult:
    step: int
    stopped: str  # max_steps | stop_after | time_budget | interrupted
    elapsed: float  # seconds of training, over every run of this run directory
    bytes_seen: int
    val: dict  # the final validation (rank 0; {} elsewhere)
    export: Path | None  # the final model directory (rank 0; None elsewhere)


class MetricsLog:
    """OUT/metrics.jsonl (rank 0 only), each record also handed to the progress callback."""

    def __init__(self, path: Path | None, on_progress: Progress | None):
        self.path, self.on_progress = path, on_progress

    def write(self, rec: dict) -> None:
        if self.path is None:
            return
        rec = {"time": round(time.time(), 3), **rec}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.on_progress is not None:
            self.on_progress(rec)


def train(run: Run, *, history: list[HistoryPair] | None = None, on_progress: Progress | None = None,
          stop: threading.Event | None = None) -> TrainResult:
    """Carry out `run` in this process (one rank of it under torchrun). `history`: the writer's accepted
    changes (app.history makes them), trained on as the "history" kind. `stop`: set it (e.g. on SIGTERM)
    to finish the current step, save and stop."""
    dist = Dist()
    dist.start()
    try:
        result = Trainer(run, dist, history, on_progress, stop or threading.Event()).fit()
    except BaseException:
        dist.stop(barrier=False)
        raise
    dist.stop()
    return result


class Trainer:
    def __init__(self, run: Run, dist: Dist, history, on_progress: Progress | None, stop: threading.Event):
        self.run, self.dist, self.cfg, self.stop_event = run, dist, run.train, stop
        self.device = self._device()
        self.use_bf16 = self.device.type == "cuda" and self.cfg.precision == "bf16"
        self.step, self.elapsed_before, self.bytes_seen = 0, 0.0, 0
        self._model()
        self._data(history)
        self.metrics = MetricsLog(run.out / METRICS if dist.main else None, on_progress)
        self.bytes_per_step = self.cfg.batch_size * self.cfg.grad_accum * run.data.seq_len * dist.world
        limit = self.cfg.max_steps
        self.end_step = limit if run.stop_after is None else min(limit, self.step + run.stop_after)

    # ---- set-up
    def _device(self) -> torch.device:
        if self.cfg.device:
            device = torch.device(self.cfg.device)
        elif torch.cuda.is_available():
            device = torch.device("cuda", self.dist.local_rank)
        else:
            device = torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return device

    def _model(self) -> None:
        """The model (fresh, from --init, or the checkpoint's) and its optimiser, in the order that makes a
        resumed run repeat the RNG draws of an uninterrupted one."""
        run, resume = self.run, self.run.resume_state
        torch.manual_seed(self.cfg.seed)
        random.seed(self.cfg.seed)
        model = HNetLM(run.model)
        if run.init and not resume:
            init = HNetLM.load(run.init, device="cpu", backend="torch")
            # The init's architecture wins; the run config's name is kept when it names the same architecture
            # (a fine-tune is a new model: scriba-hnet-small-v3 from v2's weights).
            same = replace(run.model, name=init.config.name) == init.config
            run.model = replace(init.config, name=run.model.name) if same else init.config
            model = HNetLM(run.model)
            model.load_state_dict(init.state_dict())
        if resume:
            checkpoint.load_weights(model, run)
        model.to(self.device)
        model.train()
        self.backend = model.set_backend(self.cfg.backend)
        self.optimizer = make_optimizer(model, self.cfg, self.device)
        self.stream_state = None
        if resume:
            self.optimizer.load_state_dict(resume["optimizer"])
            self.step = resume["step"]
            self.elapsed_before = resume.get("elapsed", 0.0)
            self.bytes_seen = resume.get("bytes_seen", 0)
            states = resume["data"]
            self.stream_state = StreamState.from_dict(states[self.dist.rank if self.dist.rank < len(states) else 0])
            checkpoint.set_rng_state(resume["rng"])
        self.model = model
        self.train_model = self.dist.wrap(model, self.device)

    def _data(self, history) -> None:
        run, dist = self.run, self.dist
        if history and dist.main:
            log.warning("history: %d accepted revisions", len(history))
        t0 = time.time()
        train_docs, val_docs = load_documents(run.data.paths, run.data.val_fraction, self.cfg.doc_limit,
                                               run.data.augment)
        if not train_docs and val_docs:
            log.warning("all %d documents fell in the validation split; training on them too", len(val_docs))
            train_docs = val_docs
        if not train_docs and not history:
            raise ValueError("no training documents")
        t1 = time.time()
        tables = self._span_tables(train_docs + (val_docs if dist.main else []))
        self.stream = ExampleStream(train_docs, run.data, seed=self.cfg.seed, rank=dist.rank, world=dist.world,
                                    history=history, state=self.stream_state, tables=tables)
        self.val_set = validation_set(val_docs, run.data, tables=tables) if dist.main else []
        if dist.main:
            log.info("data: %d train / %d validation documents (read %.1f s, span tables %.1f s), "
                     "%d validation examples", len(train_docs), len(val_docs), t1 - t0, time.time() - t1,
                     len(self.val_set))

    def _span_tables(self, docs) -> dict[str, SpanTable]:
        workers = self.cfg.data_workers or max(1, min(16, (os.cpu_count() or 1) // self.dist.world))
        texts = {d.id: d.text for d in docs}
        return dict(zip(texts, span_tables(list(texts.values()), workers)))

    # ---- the loop
    def fit(self) -> TrainResult:
        run, dist = self.run, self.dist
        if dist.main:
            run.out.mkdir(parents=True, exist_ok=True)
            (run.out / "run_config.json").write_text(json.dumps(
                {"model": json.loads(run.model.to_json()), "data": run.data.to_dict(), "train": asdict(self.cfg)},
                indent=2) + "\n")
            self.metrics.write({"event": "start", "step": self.step, "max_steps": self.cfg.max_steps,
                                "device": str(self.device), "backend": self.backend,
                                "params": self.model.num_params(), "world": dist.world,
                                "bytes_per_step": self.bytes_per_step, "resumed": bool(run.resume_state)})
        loader = Loader(self.stream, self.cfg.batch_size * self.cfg.grad_accum, pin_memory=self.device.type == "cuda")
        self.data_state = self.stream.state_dict()
        self.t_start = self.t_last = self.t_step = time.time()
        self.steps_run, self.compile_s, self.recent_steps = 0, 0.0, []
        self.bytes_last = self.bytes_seen
        self._reset_sums()
        try:
            reason = self._steps(loader)
        finally:
            loader.close()
        return self._finish(reason)

    def _steps(self, loader) -> str:
        """Train until a stop; returns why it stopped."""
        while self.step < self.end_step:
            batch, self.data_state = next(loader)
            factor, gnorm = self._optimizer_step(batch)
            if self.step % self.cfg.log_every == 0 or self.step == self.end_step:
                self._log_step(factor, gnorm)
            if self.step < self.end_step:
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    self._validate()
                if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                    self._save()
            reason = self._stop_reason()
            if self.dist.any(reason is not None, self.device):
                return reason or "max_steps"
        return "max_steps" if self.step >= self.cfg.max_steps else "stop_after"

    def _optimizer_step(self, batch: torch.Tensor) -> tuple[float, torch.Tensor | None]:
        """One optimiser step over the batch's micro-batches; returns (lr factor, gradient norm)."""
        cfg = self.cfg
        batch = batch.to(self.device, non_blocking=True)
        progress = None
        if cfg.time_budget:
            progress = budget_progress(self.step, cfg, self.elapsed_before + self._budget_elapsed(time.time()),
                                       cfg.time_budget + self.elapsed_before)
        factor = lr_factor(self.step, cfg, progress)
        set_lr(self.optimizer, cfg, factor)
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if self.use_bf16 else nullcontext
        micro = batch.split(cfg.batch_size)
        for i, ids in enumerate(micro):
            last = i == len(micro) - 1
            with self.train_model.no_sync() if (self.dist.enabled and not last) else nullcontext():
                with autocast():
                    out = self.train_model(ids)
                ce = F.cross_entropy(out.logits[:, :-1].float().reshape(-1, out.logits.shape[-1]),
                                     ids[:, 1:].reshape(-1))
                ((ce + out.ratio_loss.float()) / len(micro)).backward()
            self.loss_sum += ce.detach()
            self.ratio_sum += out.ratio_loss.detach().float()
            self.n_sum += 1
            self.last_out = out
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip) if cfg.grad_clip else None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.bytes_seen += self.bytes_per_step
        return factor, gnorm

    def _reset_sums(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.ratio_sum = torch.zeros((), device=self.device)
        self.n_sum = 0
        self.last_out = None

    def _log_step(self, factor: float, gnorm) -> None:
        now = time.time()
        loss = self.dist.mean(float(self.loss_sum) / max(self.n_sum, 1), self.device)
        rec = {"step": self.step, "loss": loss, "bpb": nats_to_bits(loss),
               "ratio_loss": float(self.ratio_sum) / max(self.n_sum, 1), "lr": self.cfg.lr * factor,
               "grad_norm": None if gnorm is None else float(gnorm),
               "bytes_per_s": (self.bytes_seen - self.bytes_last) / max(now - self.t_last, 1e-9),
               "elapsed": self.elapsed_before + self._budget_elapsed(now), "bytes": self.bytes_seen}
        if self.last_out is not None and self.last_out.boundaries:
            rec["compression"] = [round(c, 3) for c in self.last_out.compression()]
        self.metrics.write(rec)
        self.t_last, self.bytes_last = now, self.bytes_seen
        self._reset_sums()

    def _stop_reason(self) -> str | None:
        """Why this rank wants to stop after this step (None: go on). The first COMPILE_STEPS steps of a
        process compile and autotune kernels (minutes on a cold GPU machine): they count as compile time,
        not against the time budget, and do not predict how long a step takes."""
        now = time.time()
        last_step_s, self.t_step = now - self.t_step, now
        if self.stop_event.is_set():
            return "interrupted"
        if self.steps_run < COMPILE_STEPS:
            self.steps_run += 1
            self.compile_s += last_step_s
            return None
        self.steps_run += 1
        self.recent_steps = (self.recent_steps + [last_step_s])[-20:]
        typical = sorted(self.recent_steps)[len(self.recent_steps) // 2]  # the median: validation steps are outliers
        if self.cfg.time_budget and self._budget_elapsed(now) + 1.5 * typical > self.cfg.time_budget:
            return "time_budget"
        return None

    def _budget_elapsed(self, now: float) -> float:
        """Seconds of training steps in this process, kernel compilation left out."""
        return now - self.t_start - self.compile_s

    # ---- validation, checkpoints, the end
    def _validate(self) -> dict:
        results = {}
        if self.dist.main and self.val_set:
            results = evaluate(self.model, self.val_set, self.device, self.use_bf16,
                               batch_size=max(1, self.cfg.batch_size))
            self.metrics.write({"step": self.step, "val": results})
            log.info("step %d: validation bpb %s", self.step, results.get("all"))
        self.dist.barrier()
        return results

    def _save(self) -> None:
        states = self.dist.gather(self.data_state)
        if self.dist.main:
            progress = {"step": self.step, "elapsed": self.elapsed_before + self._budget_elapsed(time.time()),
                        "bytes_seen": self.bytes_seen}
            checkpoint.save(self.run, self.model, self.optimizer, progress, states)

    def _finish(self, reason: str) -> TrainResult:
        """Save, validate and (rank 0) export the final model with what it was trained on."""
        run, elapsed = self.run, self.elapsed_before + self._budget_elapsed(time.time())
        self._save()
        results = self._validate()
        export = None
        if self.dist.main:
            export = run.export_dir
            extra = {"steps": self.step, "bytes": self.bytes_seen, "elapsed_s": round(elapsed, 1),
                     "device": str(self.device), "backend": self.backend, "world": self.dist.world,
                     "stopped": reason, "compile_s": round(self.compile_s, 1), "val": results,
                     "data": {"paths": run.data.paths or [str(corpus_dir())], "seq_len": run.data.seq_len,
                              "mixture": run.data.mixture}}
            self.model.save(export, dtype=EXPORT_DTYPES[self.cfg.export_dtype], extra=extra)
            self.metrics.write({"event": "end", "step": self.step, "stopped": reason, "elapsed": elapsed,
                                "compile_s": self.compile_s, "export": str(export)})
            log.info("%s at step %d; model in %s", reason, self.step, export)
        return TrainResult(self.step, reason, elapsed, self.bytes_seen, results, export)
