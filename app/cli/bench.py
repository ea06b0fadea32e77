"""`scriba bench`: train and decode speed of an H-Net against an isotropic Mamba-2 of the same size, or
(--model DIR) how fast a trained model writes here."""

from __future__ import annotations

import argparse
import json

from app.cli.options import refuse
from engine.config import PRESETS
from engine.protocol import EngineUnavailable

NAME = "bench"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="training and decoding speed, H-Net vs an isotropic Mamba-2 baseline")
    p.add_argument("--json", action="store_true")
    p.add_argument("--size", default="small", choices=list(PRESETS), metavar="SIZE",
                   help="model size preset for the benchmark (tiny, small, 30m)")
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "mamba_ssm"])
    p.add_argument("--device", default=None)
    p.add_argument("--cuda-graph", action="store_true", default=None)
    p.add_argument("--model", help="instead: the writing speed of this model directory (e.g. assets/model): "
                   "prefill bytes/s and decode bytes/s for 1 and 3 candidates, as the editor uses it")
    p.add_argument("--baseline", default="reference", choices=["reference", "none"],
                   help="with --model: also time the reference decoding step in the same run (default)")
    p.add_argument("--serve", action="store_true", help="instead: a real server (scriba serve) with 1, 8, 64 "
                   "and 256 concurrent streams: aggregate bytes/s and time to first byte (engine/serve/bench.py)")
    p.add_argument("--streams", default="1,8,64,256", help="with --serve: the concurrency levels")
    p.add_argument("--new-bytes", type=int, default=None, help="with --serve: bytes per stream (GPU 256, CPU 32)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    from engine import bench  # torch: only when this command runs

    if args.serve:
        from engine.serve import bench as serve_bench

        try:
            levels = [int(k) for k in args.streams.split(",")]
            report = serve_bench.run_serve_bench(args.model, args.device, args.backend, levels, args.new_bytes)
        except (EngineUnavailable, ValueError) as exc:
            return refuse(exc, NAME)
        print(json.dumps(report, indent=2) if args.json else serve_bench.format_serve_report(report))
        return 0
    if args.model and (args.device or "").startswith("cuda"):  # the product path beside today's, on a GPU
        try:
            report = bench.run_product_bench(args.model, args.device, args.backend)
        except EngineUnavailable as exc:
            return refuse(exc, NAME)
        print(json.dumps(report, indent=2) if args.json else bench.format_product_report(report))
        return 0
    if args.model:
        try:
            report = bench.run_model_bench(args.model, args.device, args.backend, baseline=args.baseline)
        except EngineUnavailable as exc:
            return refuse(exc, NAME)
        print(json.dumps(report, indent=2) if args.json else bench.format_model_report(report))
        return 0
    report = bench.run_bench(args.size, args.device, args.backend, args.batch, args.seq_len, args.steps,
                             args.cuda_graph)
    print(json.dumps(report, indent=2) if args.json else bench.format_table(report))
    return 0
