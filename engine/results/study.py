"""The boundaries study (issue 12, point 3) on a model: where its learned chunk boundaries fall against
whitespace, word starts and a BPE tokenizer's token starts, its bytes per chunk, and whether its next-byte
entropy peaks on token boundaries more often than chance. Writes JSON records (one a line) that
engine.results.report reads, so the report itself needs no model.

Texts: the held-out documents (assets/heldout) and a seeded sample of the corpus's validation documents
(the runs' 1 % hash split). The BPE tokenizer is trained on a sample of the training split only.
The per-byte numbers come from Engine.inspect, the same pass `scriba inspect` shows.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from engine.results.boundaries import (
    agreement,
    concatenate,
    entropy_peaks,
    peak_coincidence,
    unigram_entropy,
    whitespace_offsets,
    word_starts,
)
from engine.results.bpe import BPEConfig, token_starts, train_bpe, training_sample
from engine.tasks import trim_suffix

log = logging.getLogger("scriba.engine")


@dataclass
class StudyConfig:
    bpe: BPEConfig = field(default_factory=BPEConfig)
    val_docs: int = 48  # validation documents, round-robin over sources
    doc_bytes: int = 6144  # each validation document's first bytes (cut at a line end: tasks.trim_suffix)
    shifts: int = 200  # random offsets for the chance baseline
    seed: int = 0


def validation_sample(docs, cfg: StudyConfig) -> list[tuple[str, str]]:
    """cfg.val_docs (source/id, head of text) pairs, sources taken in turn, each source's documents shuffled."""
    by_source: dict[str, list] = {}
    for d in docs:
        by_source.setdefault(d.source, []).append(d)
    rng = random.Random(cfg.seed)
    queues = []
    for s in sorted(by_source):
        ds = sorted(by_source[s], key=lambda d: d.id)
        rng.shuffle(ds)
        queues.append(ds)
    out = []
    while len(out) < cfg.val_docs and any(queues):
        for q in queues:
            if q and len(out) < cfg.val_docs:
                d = q.pop()
                out.append((f"{d.source}/{d.id}", trim_suffix(d.text, cfg.doc_bytes)))
    return out


def measure_text(engine, tok, name: str, text: str) -> dict:
    """Per-document offsets and counts: model boundaries per stage, references, entropy peaks."""
    ins = engine.inspect(text)
    data = text.encode("utf-8")
    bpe, ids = token_starts(tok, text)
    return dict(name=name, n=len(data), data=data, bits=sum(ins.surprisal), ids=ids,
                sets=dict(whitespace=whitespace_offsets(data), word_start=word_starts(data), bpe=bpe,
                          peaks=entropy_peaks(ins.entropy),
                          **{f"stage{s}": b for s, b in enumerate(ins.boundaries)}))


def summarise_set(set_name: str, rows: list[dict], depth: int, cfg: StudyConfig, vocab: int) -> list[dict]:
    n, sets = concatenate([(r["n"], r["sets"]) for r in rows])
    words = len(sets.get("word_start", [])) + len(rows)  # each document's first word has no start inside it
    out = [dict(kind="text", set=set_name, documents=len(rows), bytes=n,
                bits_per_byte=sum(r["bits"] for r in rows) / n,
                bytes_per_chunk=[n / (len(sets.get(f"stage{s}", [])) + len(rows)) for s in range(depth)],
                bytes_per_bpe_token=n / sum(len(r["ids"]) for r in rows), bytes_per_word=n / words)]
    refs = ("whitespace", "word_start", "bpe")
    for s in range(depth):
        for ref in refs:
            out.append(dict(kind="boundaries", set=set_name, stage=s, reference=ref,
                            **agreement(sets.get(f"stage{s}", []), sets[ref], n)))
    for ref in refs + tuple(f"stage{s}" for s in range(depth)):
        out.append(dict(kind="entropy_peaks", set=set_name, reference=ref,
                        **peak_coincidence(sets["peaks"], sets.get(ref, []), n, cfg.shifts, seed=cfg.seed)))
    tokens = Counter(i for r in rows for i in r["ids"])
    byte_counts = Counter(b for r in rows for b in r["data"])
    out.append(dict(kind="uniformity", set=set_name, tokens=sum(tokens.values()), vocab=vocab,
                    token_entropy=unigram_entropy(tokens), token_entropy_max=math.log2(vocab),
                    byte_entropy=unigram_entropy(byte_counts), byte_entropy_max=8.0))
    return out


def run_study(engine, train_texts: list[str], sets: dict[str, list[tuple[str, str]]], cfg: StudyConfig,
              model_name: str = "") -> list[dict]:
    """Train the BPE tokenizer on `train_texts`, measure every text of `sets`, and return the records."""
    t0 = time.time()
    sample = training_sample(train_texts, cfg.bpe)
    tok = train_bpe(sample, cfg.bpe)
    vocab = tok.get_vocab_size()
    log.info("bpe: %d entries from %d training texts (%d bytes) in %.1f s", vocab, len(sample),
             sum(len(t.encode()) for t in sample), time.time() - t0)
    depth = engine.model.config.depth
    records = [dict(kind="config", model=model_name, depth=depth, bpe_vocab=vocab, bpe_training_texts=len(sample),
                    bpe_training_bytes=sum(len(t.encode("utf-8")) for t in sample), study=asdict(cfg),
                    peak="entropy of byte i above byte i-1's and not below byte i+1's",
                    chance="the same peaks moved by random circular offsets of >= 64 bytes; uniform = reference share")]
    for set_name, texts in sets.items():
        rows = []
        for name, text in texts:
            r = measure_text(engine, tok, name, text)
            rows.append(r)
            log.info("boundaries %s %s: %d bytes", set_name, name, r["n"])
        records.extend(summarise_set(set_name, rows, depth, cfg, vocab))
    records.append(dict(kind="end", seconds=round(time.time() - t0, 1)))
    return records


def study_sets(cfg: StudyConfig, heldout_folder=None, corpus_paths=None, val_fraction: float = 0.01):
    """(training texts for the BPE, {"heldout": [...], "validation": [...]}) from the held-out folder and the
    corpus split (engine.corpus.load_documents, as engine.evaluate.corpus_validation_docs reads it)."""
    from engine.corpus import load_documents
    from engine.evaluate import heldout_manifest, load_texts

    entries = heldout_manifest(heldout_folder)
    texts = load_texts([e["path"] for e in entries])
    heldout = [(e["file"], data.decode("utf-8")) for e, (_, data) in zip(entries, texts)]
    train, val = load_documents(corpus_paths, val_fraction)
    return [d.text for d in train], dict(heldout=heldout, validation=validation_sample(val, cfg))


def write_records(records: list[dict], path) -> None:
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
