"""Training (or fine-tuning) the byte-level H-Net on the corpus and the writer's history.

    run = new_run("runs/r1", config_file("default"), overrides={"time_budget": 1500})   # or resume_run("runs/r1")
    result = train(run, history=pairs, on_progress=print_record)

The package is split along its seams: `config` (TrainConfig, the run config file, `Run`), `optim`
(parameter groups, the lr schedule), `checkpoint` (save, exact resume), `distributed` (DDP under torchrun),
`validate` (bits per byte per kind and source) and `loop` (the `Trainer`). Checkpoints (OUT/ckpt:
model.safetensors + config.json, and trainer.pt with optimiser, step, RNG and data position) resume
exactly; metrics go to OUT/metrics.jsonl; the final model to OUT/model (a model directory `load_engine`
reads). `scriba train` (app.cli.train) is the command line; this package prints nothing.
"""

from engine.train.checkpoint import resume_run
from engine.train.config import Run, TrainConfig, load_run_config, new_run
from engine.train.loop import TrainResult, train
from engine.train.optim import lr_factor, param_groups
from engine.train.validate import evaluate

__all__ = ["Run", "TrainConfig", "TrainResult", "evaluate", "load_run_config", "lr_factor", "new_run",
           "param_groups", "resume_run", "train"]
