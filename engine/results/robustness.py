"""The robustness study (issue 12, point 5) on a model: bits per byte of each perturbed version of a fixed set of
texts (engine.results.perturb) against the clean text and against `xz -9e`, and bits per byte on the Universal
Declaration of Human Rights in non-Latin scripts beside its English text. Writes JSON records (one a line) that
engine.results.report reads, so the report itself needs no model.

Texts: the held-out documents (assets/heldout) and a seeded sample of the corpus's validation documents (the
runs' 1 % hash split, engine.results.study.validation_sample), each cut to its first cfg.doc_bytes at a line end
(engine.tasks.trim_suffix); the UDHR passages of assets/results/texts (MANIFEST.md there). Scoring is
engine.evaluate.evaluate_texts, the pass `scriba eval` runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.evaluate import evaluate_texts
from engine.results.perturb import NAMES, PerturbConfig, describe, perturb
from engine.tasks import trim_suffix

log = logging.getLogger("scriba.engine")

SCRIPTS = ("english", "russian", "greek", "japanese", "arabic", "hindi")  # english: the same text, Latin script


@dataclass
class RobustnessConfig:
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    val_docs: int = 24  # corpus validation documents, round-robin over sources
    doc_bytes: int = 4096  # each document's first bytes, cut at a line end


def texts_dir() -> Path:
    from engine.resources import assets_dir

    return assets_dir() / "results" / "texts"


def script_texts(folder=None) -> list[tuple[str, str]]:
    """(language, text) of the UDHR passages, English first."""
    folder = Path(folder) if folder else texts_dir()
    return [(s, (folder / f"udhr-{s}.txt").read_text(encoding="utf-8")) for s in SCRIPTS]


def robustness_sets(cfg: RobustnessConfig, heldout_folder=None, corpus_paths=None) -> dict[str, list[tuple[str, str]]]:
    """{"heldout": [...], "validation": [...]} (name, head of text) pairs; no validation set without a corpus."""
    from engine.evaluate import heldout_manifest, load_texts
    from engine.results.study import StudyConfig, validation_sample

    entries = heldout_manifest(heldout_folder)
    heldout = [(e["file"], trim_suffix(data.decode("utf-8"), cfg.doc_bytes))
               for e, (_, data) in zip(entries, load_texts([e["path"] for e in entries]))]
    sets = dict(heldout=heldout)
    try:
        from engine.corpus import load_documents

        _, val = load_documents(corpus_paths, 0.01)
    except FileNotFoundError as exc:
        log.info("robustness: no corpus validation set (%s)", exc)
        return sets
    sets["validation"] = validation_sample(val, StudyConfig(val_docs=cfg.val_docs, doc_bytes=cfg.doc_bytes))
    return sets


def score(engine, texts: list[tuple[str, str]]) -> dict:
    """Model and xz totals over (name, text) pairs: bytes, bits, bits_per_byte, xz_bits_per_byte, model_over_xz."""
    total = evaluate_texts(engine, [(name, text.encode("utf-8")) for name, text in texts])["total"]
    return dict(bytes=total["bytes"], bits=total["bits_per_byte"] * total["bytes"],
                bits_per_byte=total["bits_per_byte"], xz_bits_per_byte=total["xz_bits_per_byte"],
                model_over_xz=total["model_over_xz"])


def run_robustness(engine, sets: dict[str, list[tuple[str, str]]], scripts: list[tuple[str, str]],
                   cfg: RobustnessConfig, model_name: str = "") -> list[dict]:
    """Score every perturbation of every set, and each script's passage; return the records."""
    t0 = time.time()
    records = [dict(kind="config", model=model_name, config=asdict(cfg), perturbations=describe(cfg.perturb),
                    texts={s: [n for n, _ in texts] for s, texts in sets.items()}, scripts=[n for n, _ in scripts])]
    for set_name, texts in sets.items():
        clean = score(engine, texts)
        records.append(dict(kind="perturbation", set=set_name, perturbation="clean", documents=len(texts), **clean))
        for name in NAMES:
            changed = [(n, perturb(name, t, cfg.perturb, key=n)) for n, t in texts]
            r = score(engine, changed)
            records.append(dict(kind="perturbation", set=set_name, perturbation=name, documents=len(texts),
                                changed=sum(a != b for (_, a), (_, b) in zip(texts, changed)), **r))
            log.info("robustness %s %s: %.3f bits/byte (clean %.3f)", set_name, name, r["bits_per_byte"],
                     clean["bits_per_byte"])
    for language, text in scripts:
        r = score(engine, [(language, text)])
        records.append(dict(kind="script", language=language, characters=len(text), **r))
        log.info("robustness udhr %s: %.3f bits/byte", language, r["bits_per_byte"])
    records.append(dict(kind="end", seconds=round(time.time() - t0, 1)))
    return records
