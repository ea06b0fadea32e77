"""The optimiser and its schedule: AdamW over per-stage parameter groups, warmup + cosine / WSD / constant."""

from __future__ import annotations

import math

import torch

from engine.train.config import TrainConfig


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


def budget_progress(step: int, cfg: TrainConfig, elapsed: float, budget: float) -> float:
    """How far the schedule is with a time budget: the further of steps and time."""
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    by_steps = (step - cfg.warmup_steps) / span
    return min(1.0, max(by_steps, elapsed / max(budget, 1e-9)))


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


def make_optimizer(model, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """Fused AdamW on CUDA (fp32 master weights), over param_groups."""
    groups = param_groups(model, cfg)
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups], **kwargs)


def set_lr(optimizer, cfg: TrainConfig, factor: float) -> float:
    """Put the scheduled lr (times each group's stage multiplier) on the optimiser; returns the base lr."""
    for g in optimizer.param_groups:
        g["lr"] = cfg.lr * factor * g["lr_mult"]
    return cfg.lr * factor
