"""A training run's settings: `TrainConfig`, the run config file, and the `Run` the loop carries out.

A run config is JSON {"model": {...} | {"preset": NAME, ...}, "data": {...}, "train": {...}} (engine/configs/);
`new_run` reads one and lays option overrides on top, `engine.train.checkpoint.resume_run` takes the settings
of a checkpoint instead. Torch-free.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.config import ModelConfig, preset
from engine.examples import DataConfig

CKPT = "ckpt"
TRAINER_STATE = "trainer.pt"
METRICS = "metrics.jsonl"

# Overrides that a resumed run still takes (the rest of its settings are the checkpoint's).
RESUMABLE = ("max_steps", "time_budget", "eval_every", "save_every", "log_every", "device", "backend")


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
    data_workers: int = 0  # processes that build the corpus's span tables ahead (0: one per CPU, up to 16)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown train config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class Run:
    """Everything one training run needs to know; `engine.train.train(run)` carries it out."""

    out: Path  # run directory: ckpt/, metrics.jsonl, run_config.json, model/
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    init: str | None = None  # start from this model directory's weights (fine-tuning)
    stop_after: int | None = None  # stop (and save) after this many steps in this run
    export: Path | None = None  # where the final model goes (default out/model)
    resume_state: dict | None = None  # the checkpoint's trainer state, when resuming

    @property
    def ckpt_dir(self) -> Path:
        return self.out / CKPT

    @property
    def export_dir(self) -> Path:
        return self.export or self.out / "model"


def load_run_config(path: str | Path | None) -> tuple[ModelConfig, DataConfig, TrainConfig]:
    """(ModelConfig, DataConfig, TrainConfig) from a run config file; defaults where absent."""
    raw = json.loads(Path(path).read_text()) if path else {}
    unknown = set(raw) - {"model", "data", "train", "comment"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (model, data, train)")
    m = dict(raw.get("model", {}))
    name = m.pop("preset", None)
    base = asdict(named_preset(name)) if name else {}
    model_cfg = ModelConfig.from_dict({**base, **m})
    return model_cfg, DataConfig.from_dict(raw.get("data", {})), TrainConfig.from_dict(raw.get("train", {}))


def named_preset(name: str) -> ModelConfig:
    """The size preset `name` (engine.config's one table); ValueError naming the known ones."""
    try:
        return preset(name)
    except KeyError as exc:
        raise ValueError(exc.args[0] if exc.args else f"unknown model preset {name!r}") from None


def apply_overrides(train_cfg: TrainConfig, data_cfg: DataConfig, overrides: dict, keys=None) -> None:
    """Set each override (a TrainConfig or DataConfig field name -> value) on the config that has it;
    `keys` limits which ones apply."""
    for key, value in overrides.items():
        if keys is not None and key not in keys:
            continue
        if key in TrainConfig.__dataclass_fields__:
            setattr(train_cfg, key, value)
        elif key in DataConfig.__dataclass_fields__:
            setattr(data_cfg, key, value)
        else:
            raise ValueError(f"unknown training option {key!r}")


def new_run(out: str | Path, config: str | Path | None = None, *, preset_name: str | None = None,
            overrides: dict | None = None, init: str | None = None, stop_after: int | None = None,
            export: str | Path | None = None) -> Run:
    """A fresh run: the config file (None: the defaults), the size preset if named, then the overrides."""
    model_cfg, data_cfg, train_cfg = load_run_config(config)
    if preset_name:
        model_cfg = named_preset(preset_name)
    apply_overrides(train_cfg, data_cfg, overrides or {})
    return Run(Path(out), model_cfg, data_cfg, train_cfg, init=init, stop_after=stop_after,
               export=Path(export) if export else None)
