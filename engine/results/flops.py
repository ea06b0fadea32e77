"""Training FLOPs per byte of a run's model, counted once from its run_config.json with engine.bench's
matmul_flops_per_byte (6 FLOPs per weight per position it runs at) and kept in the run's flops.json, so the
report reads a number, not a model.

The count is a sum over depths: per_depth[d] FLOPs per position at depth d, and depth d runs at
1 / (r_1 ... r_d) of the bytes for compression ratios r. matmul_flops_per_byte is evaluated with ratios
1 and infinity to read the per-depth terms off it; engine.results.runs.flops_per_byte puts them back
together at any ratios.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.results.runs import FLOPS_FILE, _read_json


def count_flops(model_config: dict) -> dict:
    """{"per_depth": [...], "params": N} for a model config (a run_config.json's "model"). Builds the model
    with random weights on the CPU (torch)."""
    from engine.bench import matmul_flops_per_byte
    from engine.config import ModelConfig
    from engine.model import HNetLM

    model = HNetLM(ModelConfig.from_dict(model_config))
    depth = model.config.depth
    cumulative = [matmul_flops_per_byte(model, [1.0] * k + [float("inf")] * (depth - k)) for k in range(depth + 1)]
    per_depth = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:])]
    return dict(per_depth=per_depth, params=model.num_params(),
                counted_by="engine.bench.matmul_flops_per_byte (6 per weight per position it runs at)")


def ensure_flops(run_dir: str | Path) -> dict:
    """The run's flops.json, counted and written first when it is missing."""
    path = Path(run_dir) / FLOPS_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    config = _read_json(Path(run_dir) / "run_config.json")["model"]
    result = count_flops(config)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
