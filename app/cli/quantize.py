"""`scriba quantize SRC DST`: re-save a model directory with int8 weights (engine/quant.py), as the bundled
model ships."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.options import refuse

NAME = "quantize"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="re-save a model directory with int8 weights (one fp16 scale per row)")
    p.add_argument("src", help="model directory (config.json + model.safetensors)")
    p.add_argument("dst", help="where to write the int8 model directory")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    from engine.model import WEIGHTS, HNetLM, ModelLoadError  # torch: only when this command runs

    try:
        model = HNetLM.load(args.src, device="cpu", backend="torch")
    except ModelLoadError as exc:
        return refuse(exc, NAME)
    training = json.loads((Path(args.src) / "config.json").read_text()).get("training")  # kept as it was
    dst = model.save(args.dst, dtype="int8", extra=training)
    print(f"{dst}: int8 weights, {(dst / WEIGHTS).stat().st_size / 1e6:.1f} MB")
    return 0
