"""How well a model predicts text, and where it cuts it into chunks (`scriba eval` and `scriba inspect`,
app/cli/eval.py and app/cli/inspect.py, print what these functions measure and format).

eval     bits per byte of the model on each file (and on all of them, byte-weighted), bytes per chunk
         at each H-Net stage, and xz -9e's bits per byte on the same bytes for scale.
inspect  one text with the chunk starts of every stage marked under it, and the model's next-byte
         entropy (bits, one digit) under every character.

Both run through engine.api.InProcessEngine, whose forward pass goes in segments and carries the
recurrent state, so a long file costs memory for its logits (1 KiB per byte) but not for activations.
"""

from __future__ import annotations

import logging
import lzma
import unicodedata
from pathlib import Path

from engine.api import InProcessEngine
from engine.metrics import bits_per_byte

log = logging.getLogger("scriba.engine")

XZ_MAX_BYTES = 16 << 20  # above this, xz -9e is no longer cheap next to the model: skip it
XZ_FILTERS = dict(id=lzma.FILTER_LZMA2, preset=9 | lzma.PRESET_EXTREME)


class InputRefused(ValueError):
    """A file or text that cannot be evaluated (missing, unreadable, not UTF-8 text). One-line message."""


# ---------------------------------------------------------------- inputs
def check_text(data: bytes, name: str) -> bytes:
    """data if it is UTF-8 text without NUL bytes, else InputRefused."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRefused(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if b"\0" in data:
        raise InputRefused(f"{name}: binary, not text (NUL byte at offset {data.index(0)})")
    return data


def read_text_file(path: str | Path) -> bytes:
    p = Path(path).expanduser()
    try:
        return check_text(p.read_bytes(), str(path))
    except FileNotFoundError:
        raise InputRefused(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputRefused(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputRefused(f"{path}: cannot read ({exc.strerror or exc})") from None


def load_texts(paths) -> list[tuple[str, bytes]]:
    """Read and check every file before any model work, so a bad one fails fast."""
    return [(str(p), read_text_file(p)) for p in paths]


# ---------------------------------------------------------------- measures
def xz_bits_per_byte(data: bytes) -> float | None:
    """Size of `xz -9e` output (the .xz container included) in bits per input byte. The dictionary is cut
    to the input's size: the same output as xz -9e's 64 MiB one, without allocating 670 MB for a small file."""
    if not data or len(data) > XZ_MAX_BYTES:
        return None
    filters = [dict(XZ_FILTERS, dict_size=min(64 << 20, max(4096, len(data))))]
    return 8 * len(lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)) / len(data)


def count_chunks(starts: list[int]) -> int:
    """Chunks covering the bytes, given the (sorted) byte offsets where chunks begin: one per start, plus
    the chunk begun at BOS when byte 0 does not begin its own."""
    return len(starts) + (not starts or starts[0] != 0)


def _as_engine(engine_or_model) -> InProcessEngine:
    return engine_or_model if isinstance(engine_or_model, InProcessEngine) else InProcessEngine(engine_or_model)


def measure(engine, data: bytes) -> tuple[float, list[int]]:
    """Total cross-entropy (nats) of the model on `data` (after BOS) and the number of chunks at each stage."""
    import torch  # here, not at the top: the commands import this module before they load a model
    import torch.nn.functional as F

    logits, starts = engine._forward_bytes(data)  # segmented, state carried across segments
    nats = F.cross_entropy(logits[:-1], torch.tensor(list(data)), reduction="sum")
    return float(nats), [count_chunks(s) for s in starts]


def _ratio(a, b):
    return None if a is None or b is None or not b else a / b


def _bits_per_byte(nats: float, nbytes: int) -> float | None:
    return bits_per_byte(nats, nbytes) if nbytes else None  # None, not 0, for an empty file


def evaluate_texts(engine_or_model, texts: list[tuple[str, bytes]], xz: bool = True) -> dict:
    """texts: (name, bytes) pairs -> {"files": [row, ...], "total": row}. A row holds path, bytes,
    bits_per_byte, bytes_per_chunk (one per stage) and, with xz, xz_bits_per_byte and model_over_xz
    (None where it does not apply: an empty file, or xz skipped for size). The total is byte-weighted."""
    engine = _as_engine(engine_or_model)
    depth = engine.model.config.depth
    rows = []
    tot = dict(bytes=0, nats=0.0, chunks=[0] * depth, xz_bits=0.0, xz_all=True)
    for name, data in texts:
        n = len(data)
        nats, chunks = measure(engine, data) if n else (0.0, [0] * depth)
        row = dict(path=name, bytes=n, bits_per_byte=_bits_per_byte(nats, n),
                   bytes_per_chunk=[_ratio(n, c) for c in chunks])
        log.info("eval %s: %d bytes, %.4f bits/byte", name, n, bits_per_byte(nats, n))
        tot["bytes"] += n
        tot["nats"] += nats
        tot["chunks"] = [a + b for a, b in zip(tot["chunks"], chunks)]
        if xz:
            x = xz_bits_per_byte(data)
            row.update(xz_bits_per_byte=x, model_over_xz=_ratio(row["bits_per_byte"], x))
            if x is None and n:
                tot["xz_all"] = False
            tot["xz_bits"] += (x or 0.0) * n
        rows.append(row)
    n = tot["bytes"]
    total = dict(path="total", bytes=n, bits_per_byte=_bits_per_byte(tot["nats"], n),
                 bytes_per_chunk=[_ratio(n, c) for c in tot["chunks"]])
    if xz:
        x = _ratio(tot["xz_bits"], n) if tot["xz_all"] else None
        total.update(xz_bits_per_byte=x, model_over_xz=_ratio(total["bits_per_byte"], x))
    return dict(files=rows, total=total)


def evaluate_files(engine_or_model, paths, xz: bool = True) -> dict:
    """Bits per byte and bytes per chunk per stage of a model (an InProcessEngine or an HNetLM) on files.
    Raises InputRefused for a missing or non-text file, before running the model."""
    return evaluate_texts(engine_or_model, load_texts(paths), xz)


def summarize(ins) -> dict:
    """Summary numbers of an engine.api.Inspection."""
    n = len(ins.surprisal)
    chunks = [count_chunks(s) if n else 0 for s in ins.boundaries]
    return dict(bytes=n, bits_per_byte=_ratio(sum(ins.surprisal), n), mean_entropy=_ratio(sum(ins.entropy), n),
                chunks=chunks, bytes_per_chunk=[_ratio(n, c) for c in chunks])


# ---------------------------------------------------------------- rendering
def _fmt(x, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def format_table(result: dict, depth: int) -> str:
    rows = result["files"] + [result["total"]]
    has_xz = "xz_bits_per_byte" in result["total"]
    head = ["file", "bytes", "bits/byte"] + [f"B/chunk s{s + 1}" for s in range(depth)]
    head += ["xz -9e b/B", "model/xz"] if has_xz else []
    body = []
    for r in rows:
        cells = [r["path"], str(r["bytes"]), _fmt(r["bits_per_byte"])] + [_fmt(c, ".2f") for c in r["bytes_per_chunk"]]
        cells += [_fmt(r["xz_bits_per_byte"]), _fmt(r["model_over_xz"], ".2f")] if has_xz else []
        body.append(cells)
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(head)] + [line(c) for c in body[:-1]]
    if len(body) > 2:  # a total line is worth printing only over several files
        out += ["-" * len(line(head)), line(body[-1])]
    return "\n".join(out)


_RAMP = [27, 33, 39, 45, 49, 190, 220, 208, 202, 196]  # ANSI 256 colours, entropy 0 .. 9 bits


def _cell(ch: str) -> tuple[str, int]:
    """How one character shows in the text row, and its width in columns."""
    if ch == "\n":
        return "↵", 1
    if ch == "\t":
        return "→", 1
    if unicodedata.category(ch)[0] == "C":
        return "·", 1
    if unicodedata.combining(ch):
        return "◌" + ch, 1
    return ch, 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def render_inspection(ins, width: int = 100, color: bool = False) -> str:
    """The text in rows of at most `width` columns; under each row, one line per stage with '^' under every
    character where a chunk begins, and a line of digits: the entropy (bits, rounded) of the next-byte
    distribution at the character's first byte. With color, the text itself is coloured by that entropy."""
    data, starts = ins.text.encode("utf-8"), [set(s) for s in ins.boundaries]
    cells, offset = [], 0  # per character: (shown, columns, entropy digit, chunk start per stage)
    for ch in ins.text:
        n = len(ch.encode("utf-8"))
        shown, w = _cell(ch)
        digit = min(9, round(ins.entropy[offset]))
        marks = [any(o in s for o in range(offset, offset + n)) for s in starts]
        cells.append((shown, w, digit, marks, ch == "\n"))
        offset += n
    assert offset == len(data)
    labels = ["text"] + [f"s{i + 1}" for i in range(len(starts))] + ["bits"]
    pad = max(map(len, labels)) + 2
    width = max(10, width - pad)
    rows, row, used = [], [], 0
    for c in cells:
        if row and used + c[1] > width:
            rows.append(row)
            row, used = [], 0
        row.append(c)
        used += c[1]
        if c[4]:  # a newline ends the row
            rows.append(row)
            row, used = [], 0
    if row:
        rows.append(row)
    out = []
    for row in rows:
        text = "".join(f"\x1b[38;5;{_RAMP[d]}m{s}\x1b[0m" if color else s for s, w, d, _, _ in row)
        lines = [text] + ["".join(("^" if m[i] else " ").ljust(w) for _, w, _, m, _ in row).rstrip()
                          for i in range(len(starts))]
        lines.append("".join(str(d).ljust(w) for _, w, d, _, _ in row))
        out += [(lab.rjust(pad - 2) + "  " + ln).rstrip() if i else lab.rjust(pad - 2) + "  " + ln
                for i, (lab, ln) in enumerate(zip(labels, lines))] + [""]
    return "\n".join(out).rstrip("\n")


def format_summary(s: dict) -> str:
    lines = [f"{s['bytes']} bytes · {_fmt(s['bits_per_byte'])} bits/byte (mean surprisal) · "
             f"mean next-byte entropy {_fmt(s['mean_entropy'])} bits"]
    lines += [f"stage {i + 1}: {c} chunks, {_fmt(r, '.2f')} bytes/chunk"
              for i, (c, r) in enumerate(zip(s["chunks"], s["bytes_per_chunk"]))]
    return "\n".join(lines)


# ---------------------------------------------------------------- the held-out set
def heldout_dir() -> Path:
    """The held-out documents (assets/heldout in a checkout: not shipped, never trained on)."""
    return Path(__file__).resolve().parents[1] / "assets" / "heldout"


def heldout_manifest(folder: str | Path | None = None) -> list[dict]:
    """The held-out set's manifest: one {"file", "group", "origin", "licence"} per document."""
    import json

    folder = Path(folder) if folder else heldout_dir()
    try:
        entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["documents"]
    except FileNotFoundError:
        raise InputRefused(f"{folder}: no manifest.json (a held-out folder lists its documents there)") from None
    return [dict(e, path=str(folder / e["file"])) for e in entries]


def evaluate_heldout(engine_or_model, folder: str | Path | None = None) -> dict:
    """evaluate_texts over the held-out set, plus a byte-weighted total per group ("markdown": READMEs and
    project documents, hard-wrapped; "plain": licences, RFC-style text, transcripts) under "groups"."""
    entries = heldout_manifest(folder)
    result = evaluate_texts(engine_or_model, load_texts([e["path"] for e in entries]))
    groups: dict[str, dict] = {}
    for e, row in zip(entries, result["files"]):
        g = groups.setdefault(e["group"], dict(bytes=0, bits=0.0, xz_bits=0.0))
        g["bytes"] += row["bytes"]
        g["bits"] += (row["bits_per_byte"] or 0.0) * row["bytes"]
        g["xz_bits"] += (row["xz_bits_per_byte"] or 0.0) * row["bytes"]
    result["groups"] = {k: dict(bytes=g["bytes"], bits_per_byte=g["bits"] / g["bytes"],
                                xz_bits_per_byte=g["xz_bits"] / g["bytes"], model_over_xz=g["bits"] / g["xz_bits"])
                        for k, g in sorted(groups.items()) if g["bytes"]}
    return result


def format_groups(groups: dict) -> str:
    return "\n".join(f"group {k}: {g['bytes']} bytes, {g['bits_per_byte']:.3f} bits/byte, xz -9e "
                     f"{g['xz_bits_per_byte']:.3f}, model/xz {g['model_over_xz']:.2f}" for k, g in groups.items())


# ---------------------------------------------------------------- infill gain, per-source validation
def middle_nats(engine_or_model, data: bytes, target_start: int) -> float:
    """Cross-entropy (nats) of data[target_start:] given what comes before it (data starts with BOS)."""
    import torch
    import torch.nn.functional as F

    engine = _as_engine(engine_or_model)
    logits, _ = engine._forward_bytes(data[1:])  # it puts BOS back in front
    target = torch.tensor(list(data[target_start:]))
    return float(F.cross_entropy(logits[target_start - 1:len(data) - 1], target, reduction="sum"))


INFILL_KINDS = ("sentence", "paragraph", "heading", "section")


def infill_gain(engine_or_model, docs, per_kind: int = 64, seed: int = 0, order: str = "spm") -> dict:
    """Per action and level: bits per byte of the middle (and EOS) given the prefix and the suffix, against
    given the prefix alone (the same prompt with an empty suffix), over up to `per_kind` spans of each kind
    cut from `docs` (engine.corpus.SourceDoc) with the editor's span rules, at the editor's byte budgets.
    gain = prefix-only minus both (bits per byte the suffix saves; positive when the suffix helps)."""
    import dataclasses
    import random

    from engine import tasks
    from engine.bytes import EOS
    from engine.examples import row_task
    from engine.spans import ACTION_OF, span_table

    engine = _as_engine(engine_or_model)
    rng = random.Random(seed)
    tables = [(d, span_table(d.text)) for d in docs]
    out = {}
    for kind in INFILL_KINDS:
        rows = [(d, t.row(kind, i)) for d, t in tables for i in range(t.count(kind))]
        rng.shuffle(rows)
        sums = dict(both=0.0, prefix=0.0, bytes=0, n=0)
        for d, row in rows[:per_kind]:
            middle = d.text[row.start:row.end].encode("utf-8") + bytes([EOS])
            task = tasks.fit(row_task(kind, row, d.text))
            for key, t in (("both", task), ("prefix", dataclasses.replace(task, suffix=""))):
                prompt = tasks.build_prompt(t, order).data
                sums[key] += middle_nats(engine, prompt + middle, len(prompt))
            sums["bytes"] += len(middle)
            sums["n"] += 1
        if sums["n"]:
            both, pre = (bits_per_byte(sums[k], sums["bytes"]) for k in ("both", "prefix"))
            action = "summarise" if kind == "heading" else ACTION_OF[kind].name
            out[f"{action}:{'heading' if kind == 'heading' else kind}"] = dict(
                n=sums["n"], bytes=sums["bytes"], prefix_and_suffix=both, prefix_only=pre, gain=pre - both)
    return out


def history_bits(engine_or_model, pairs, order: str = "spm") -> dict:
    """Bits per byte of each accepted revision's new text (and EOS) given its document around it, the way the
    trainer's "history" examples put it (HistoryPair.task, fitted to the editor's byte budgets): per
    author:action and over all, so a fine-tune on the writer's history can be measured before and after."""
    from engine import tasks
    from engine.bytes import EOS

    engine = _as_engine(engine_or_model)
    sums: dict[str, list] = {}
    for pair in pairs:
        prompt = tasks.build_prompt(tasks.fit(pair.task()), order).data
        middle = pair.after.encode("utf-8") + bytes([EOS])
        nats = middle_nats(engine, prompt + middle, len(prompt))
        for key in ("all", f"{pair.author}:{pair.action}"):
            s = sums.setdefault(key, [0.0, 0, 0])
            s[0], s[1], s[2] = s[0] + nats, s[1] + len(middle), s[2] + 1
    return {k: dict(n=n, bytes=b, bits_per_byte=bits_per_byte(nats, b)) for k, (nats, b, n) in sorted(sums.items())}


def format_history_bits(res: dict) -> str:
    lines = ["author:action          revisions   bytes  bits/byte"]
    lines += [f"{k:22} {r['n']:9d} {r['bytes']:7d} {r['bits_per_byte']:10.3f}" for k, r in res.items()]
    return "\n".join(lines)


def format_infill_gain(res: dict) -> str:
    lines = ["action:level           spans   bytes  prefix+suffix  prefix only   gain (bits/byte)"]
    for k, r in res.items():
        lines.append(f"{k:22} {r['n']:6d} {r['bytes']:7d} {r['prefix_and_suffix']:14.3f} {r['prefix_only']:12.3f}"
                     f" {r['gain']:+8.3f}")
    return "\n".join(lines)


def corpus_validation_docs(paths=None, val_fraction: float = 0.01):
    """The corpus's validation documents (the training runs' 1 % hash split), never augmented."""
    from engine.corpus import load_documents

    return load_documents(paths, val_fraction)[1]


def validation_by_source(engine_or_model, docs, n: int = 256, seq_len: int = 8192, mixture: dict | None = None,
                         device=None) -> dict:
    """Bits per byte per kind and per source on the runs' fixed validation set (engine.data.validation_set:
    n examples of seq_len bytes from `docs`, kinds in proportion to the mixture, sources round-robin), built
    without instructions, so the numbers compare with runs that had none."""
    from engine.data import validation_set
    from engine.examples import DataConfig
    from engine.train.validate import evaluate

    engine = _as_engine(engine_or_model)
    cfg = DataConfig(seq_len=seq_len, val_examples=n, **({"mixture": mixture} if mixture else {}))
    model = engine.model
    dev = device or model.embed.weight.device
    return evaluate(model, validation_set(docs, cfg), dev, use_bf16=dev.type == "cuda")


# ---------------------------------------------------------------- instructions
def instruction_eval(engine_or_model, docs, per_kind: int = 32, n: int = 3, seed: int = 0,
                     kinds=("sentence", "paragraph", "section")) -> dict:
    """How often candidates satisfy a trained instruction (engine.instructions), against the same model and
    spans without the instruction: per kind and form, the share of candidates satisfying it both ways. The
    forms are derived from each span's original text (as training does); the prompt is what make_task
    sends for such an instruction (no old text)."""
    import dataclasses
    import random

    from engine import instructions, tasks
    from engine.examples import row_task
    from engine.protocol import GenerationRequest
    from engine.spans import span_table

    engine = _as_engine(engine_or_model)
    rng = random.Random(seed)
    tables = [(d, span_table(d.text)) for d in docs]
    out: dict = {}
    for kind in kinds:
        rows = [(d, t.row(kind, i)) for d, t in tables for i in range(t.count(kind))]
        rng.shuffle(rows)
        counts: dict = {}
        used = 0
        for d, row in rows:
            if used >= per_kind:
                break
            forms = instructions.derive(rng, d.text[row.start:row.end], row.level)
            if not forms:
                continue
            used += 1
            base = tasks.fit(row_task(kind, row, d.text))
            for key, t in (("with", dataclasses.replace(base, instruction=instructions.canonical(forms))),
                           ("without", base)):
                p = tasks.build_prompt(t)
                req = GenerationRequest(p.data, p.stop, p.stop_after, p.max_bytes, n=n, seed=seed + used)
                for cand in engine.generate(req):
                    for form, ok in instructions.satisfied(forms, tasks.finish(t, cand.text)).items():
                        c = counts.setdefault(form, {"with": [0, 0], "without": [0, 0]})[key]
                        c[0] += ok
                        c[1] += 1
        out[kind] = {form: {k: (v[0] / v[1] if v[1] else None) for k, v in c.items()} | {"candidates": c["with"][1]}
                     for form, c in counts.items()}
        out[kind]["spans"] = used
    return out


def format_instruction_eval(res: dict) -> str:
    lines = ["kind       form      candidates  satisfied with  without"]
    for kind, forms in res.items():
        for form, r in forms.items():
            if form == "spans":
                continue
            lines.append(f"{kind:10} {form:9} {r['candidates']:10d} {r['with']:15.2f} {r['without']:8.2f}")
    return "\n".join(lines)
