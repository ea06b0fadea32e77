"""`scriba results [--logs DIR] [--out DIR] [--boundaries] [--robustness] [--model DIR] [--device D]`: regenerate
the results report (REPORT.md and its PNG plots) from the committed run logs; with --boundaries or
--robustness, first run that study on a model (CPU is fine) and write its log beside the runs' logs."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from app.cli.options import add_engine_options, refuse

NAME = "results"
log = logging.getLogger("scriba.cli")


def _default_dir():
    from engine.resources import assets_dir

    return assets_dir() / "results"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="regenerate the results report (Markdown + PNG) from the committed run logs")
    p.add_argument("--logs", help="the run logs (default: assets/results/logs)")
    p.add_argument("--out", help="the report's folder (default: assets/results)")
    p.add_argument("--boundaries", action="store_true",
                   help="first run the boundaries study on the model (held-out and corpus validation text) and "
                        "write logs/boundaries/metrics.jsonl")
    p.add_argument("--robustness", action="store_true",
                   help="first run the robustness study on the model (perturbed held-out and corpus validation "
                        "text, non-Latin scripts) and write logs/robustness/metrics.jsonl")
    p.add_argument("--val-docs", type=int, help="corpus validation documents in a study (default: boundaries 48, "
                                                "robustness 24)")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    from pathlib import Path

    try:
        import matplotlib  # noqa: F401
        if args.boundaries:
            import tokenizers  # noqa: F401
    except ModuleNotFoundError as exc:
        return refuse(f"the results report needs {exc.name}: pip install 'scriba[results]'", NAME)

    from engine.results.report import BOUNDARIES_LOG, ROBUSTNESS_LOG, build_report
    from engine.results.runs import LogError

    out = Path(args.out) if args.out else _default_dir()
    logs = Path(args.logs) if args.logs else out / "logs"
    t0 = time.time()
    if args.boundaries or args.robustness:
        from app.cli.engine_commands import load_engine_for
        from engine.evaluate import InputRefused
        from engine.protocol import EngineUnavailable
        from engine.results.study import write_records

        try:
            engine = load_engine_for(args)
            if args.boundaries:
                from engine.results.study import StudyConfig, run_study, study_sets

                cfg = StudyConfig(val_docs=args.val_docs or 48)
                train, sets = study_sets(cfg)
                write_records(run_study(engine, train, sets, cfg, model_name=engine.name), logs / BOUNDARIES_LOG)
            if args.robustness:
                from engine.results.robustness import RobustnessConfig, robustness_sets, run_robustness, script_texts

                cfg = RobustnessConfig(val_docs=args.val_docs or 24)
                write_records(run_robustness(engine, robustness_sets(cfg), script_texts(), cfg,
                                             model_name=engine.name), logs / ROBUSTNESS_LOG)
        except (InputRefused, EngineUnavailable, FileNotFoundError) as exc:
            return refuse(str(exc) or type(exc).__name__, NAME)
    try:
        from engine.results.flops import ensure_flops

        for folder in sorted(p for p in logs.iterdir() if (p / "run_config.json").exists()) if logs.is_dir() else []:
            if not (folder / "flops.json").exists():
                print(f"scriba results: counting FLOPs per byte of {folder.name} (builds its model)", file=sys.stderr)
                ensure_flops(folder)
        written = build_report(logs, out)
    except LogError as exc:
        return refuse(str(exc), NAME)
    for p in written:
        print(p)
    log.info("results: %d files in %.1f s", len(written), time.time() - t0)
    return 0
