"""The results study (issue 12): the report `scriba results` regenerates from committed run logs, and the
measurements that write those logs.

runs        read a run's logs (run_config.json, metrics.jsonl, run.json, flops.json): training FLOPs and
            bytes at each validation, per source                                         (torch-free)
flops       training FLOPs per byte of a run's model, counted once into flops.json (engine.bench's count)
boundaries  boundary precision / recall / F1, reference boundaries, entropy peaks and their chance
            baselines                                                                      (torch-free)
bpe         a byte-level BPE tokenizer (`tokenizers`) and the byte offsets where its tokens begin
study       the boundaries study on a model: writes logs/boundaries/metrics.jsonl
plots       the PNG figures (matplotlib, Agg)                                             (torch-free)
report      REPORT.md: tables, the essay's claims with verdicts                           (torch-free)
"""
