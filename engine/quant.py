"""Weight-only int8 quantisation of a saved model, so the bundled model ships small (DESIGN: ≤ 20 MB).

Each 2-D weight (linear layers, embedding) is stored as int8 with one fp16 scale per output row
(absmax / 127); everything else stays fp16. Loading dequantises to fp32 for the reference paths (forward,
step), so their arithmetic is the same as for a float checkpoint; only the rounding of the weights
differs. The CPU decoding step (engine/fast_cpu.py) keeps the int8 matrices (`int8_weights`) and
multiplies by them directly, reading a quarter of the bytes per step.

Pure tensor functions: engine/model.py uses them to save and load, `scriba quantize SRC DST`
(app/cli/quantize.py) re-saves a model directory as int8.
"""

from __future__ import annotations

import torch
from torch import Tensor

SCALE_SUFFIX = ".qscale"
MIN_NUMEL = 4096  # small matrices are not worth a scale row


def quantize(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for name, t in tensors.items():
        if t.is_floating_point() and t.dim() == 2 and t.numel() >= MIN_NUMEL:
            w = t.float()
            scale = (w.abs().amax(dim=1, keepdim=True) / 127.0).clamp_min(1e-8).half()
            out[name] = torch.round(w / scale.float()).clamp(-127, 127).to(torch.int8)
            out[name + SCALE_SUFFIX] = scale
        else:
            out[name] = t.half() if t.is_floating_point() else t
    return out


def dequantize(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of `quantize` (up to rounding); float tensors come back as fp32. A no-op on float files."""
    out: dict[str, Tensor] = {}
    for name, t in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = tensors.get(name + SCALE_SUFFIX)
        if scale is not None:
            out[name] = t.float() * scale.float()
        else:
            out[name] = t.float() if t.is_floating_point() else t
    return out



def int8_weights(tensors: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """The int8 matrices of a quantised file with their scales: name -> (int8 (out, in), fp16 scale (out, 1)).
    Empty for a float file."""
    return {name: (t, tensors[name + SCALE_SUFFIX]) for name, t in tensors.items()
            if t.dtype == torch.int8 and name + SCALE_SUFFIX in tensors}
