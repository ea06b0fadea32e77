"""Checkpoints that resume exactly: OUT/ckpt holds model.safetensors + config.json (a model directory)
and trainer.pt (optimiser, step, RNG states, every rank's data position, the run's settings)."""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file

from engine.config import ModelConfig
from engine.examples import DataConfig
from engine.train.config import CKPT, RESUMABLE, TRAINER_STATE, Run, TrainConfig, apply_overrides


def rng_state() -> dict:
    st = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    random.setstate(st["python"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(st["cuda"])
        except (RuntimeError, IndexError):  # a different number of GPUs: not bit-exact, still fine
            pass


def resume_run(out: str | Path, overrides: dict | None = None, *, stop_after: int | None = None,
               export: str | Path | None = None) -> Run:
    """The run saved in OUT/ckpt, to continue where it stopped; of the overrides only RESUMABLE apply."""
    ckpt_dir = Path(out) / CKPT
    if not (ckpt_dir / TRAINER_STATE).is_file():
        raise FileNotFoundError(f"nothing to resume: {ckpt_dir / TRAINER_STATE} is missing")
    state = torch.load(ckpt_dir / TRAINER_STATE, map_location="cpu", weights_only=False)
    data_cfg = DataConfig.from_dict(state["data_config"])
    train_cfg = TrainConfig.from_dict(state["train_config"])
    apply_overrides(train_cfg, data_cfg, overrides or {}, keys=RESUMABLE)
    return Run(Path(out), ModelConfig.load(ckpt_dir / "config.json"), data_cfg, train_cfg, stop_after=stop_after,
               export=Path(export) if export else None, resume_state=state)


def load_weights(model, run: Run) -> None:
    model.load_state_dict(load_file(str(run.ckpt_dir / "model.safetensors")))


def save(run: Run, model, optimizer, progress: dict, data_states: list[dict]) -> None:
    """Write OUT/ckpt atomically (a temporary folder renamed over the old one). `progress` holds step,
    elapsed and bytes_seen; `data_states` every rank's stream position, so each rank resumes its stream."""
    ckpt_dir = run.ckpt_dir
    tmp = ckpt_dir.with_name(ckpt_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save(tmp)
    torch.save({**progress, "optimizer": optimizer.state_dict(), "data": data_states, "rng": rng_state(),
                "data_config": run.data.to_dict(), "train_config": asdict(run.train)}, tmp / TRAINER_STATE)
    old = ckpt_dir.with_name(ckpt_dir.name + ".old")
    if ckpt_dir.exists():
        if old.exists():
            shutil.rmtree(old)
        ckpt_dir.rename(old)
    tmp.rename(ckpt_dir)
    if old.exists():
        shutil.rmtree(old)
