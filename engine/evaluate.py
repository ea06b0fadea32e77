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
