"""The byte-level language model: embedding -> H-Net stages (or an isotropic stack) -> byte logits.

`forward` (parallel: training, scoring, prefill) and `step` (recurrent: generation, one byte per
stream) compute the same function; tests/test_model.py holds them to it for every layout.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from engine import quant
from engine.config import FORMAT_VERSION, ModelConfig
from engine.hnet import Stage
from engine.layers import Stack
from engine.ssm import Mamba2Mixer, kernels

log = logging.getLogger("scriba.engine")

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class ModelLoadError(RuntimeError):
    """A model directory that is missing, incomplete, or not a scriba model."""


@dataclass
class LMState:
    """Recurrent state of the whole model for a batch of streams.

    backbone: a StageState (H-Net) or a list of layer states (isotropic)
    position: bytes consumed so far (same for every stream)
    """

    backbone: object
    position: int = 0


@dataclass
class LMOutput:
    logits: Tensor  # (b, l, 256) float32
    ratio_loss: Tensor  # scalar: sum over stages (0 for isotropic)
    boundaries: list[Tensor] = field(default_factory=list)  # per stage (b, l_s) bool
    probs: list[Tensor] = field(default_factory=list)  # per stage (b, l_s) boundary probabilities
    masks: list[Tensor] = field(default_factory=list)
    state: LMState | None = None

    def compression(self) -> list[float]:
        """Bytes per chunk at each stage boundary, relative to the level below (e.g. [4.1, 2.0])."""
        ratios, below = [], None
        for b, mk in zip(self.boundaries, self.masks):
            n = float((b & mk).sum())
            total = float(mk.sum()) if below is None else below
            ratios.append(total / max(n, 1.0))
            below = n
        return ratios


class HNetLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.d_model[0]
        self.embed = nn.Embedding(config.vocab_size, d)
        self.backbone: nn.Module = (Stage(config, 0, config.layout) if config.depth
                                    else Stack(config.layout[0], d, config))
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        self.backend = "torch"
        self.fast_step = None  # engine.fast_cpu.FastStep once set_fast_step() built one (CPU inference)
        self._fast_built = None
        self._int8: dict = {}  # the int8 matrices of the file this model was loaded from (engine/quant.py)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.embed.weight, std=0.02)
        for name, mod in self.named_modules():
            if isinstance(mod, nn.Linear) and not name.endswith(("q_proj", "k_proj", "residual")):
                nn.init.normal_(mod.weight, std=0.02)
                if name.endswith("out_proj"):  # keep the residual stream's variance flat with depth
                    mod.weight.data /= max(1, self.num_layers()) ** 0.5

    def num_layers(self) -> int:
        return sum(1 for m in self.modules() if isinstance(m, Stack) for _ in m.kinds)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------- backend
    def set_backend(self, backend: str = "auto") -> str:
        """Choose the Mamba-2 kernels: "torch" (anywhere), "mamba_ssm" (Triton, CUDA), or "auto".
        Asking for mamba_ssm where it cannot run raises; "auto" logs which one it picked and why."""
        on_cuda = self.embed.weight.is_cuda
        if backend == "auto":
            ok, why = kernels.availability() if on_cuda else (False, "model is on the CPU")
            backend = "mamba_ssm" if ok else "torch"
            if on_cuda and not ok:
                log.warning("Mamba-2 backend: torch reference on CUDA (slow): %s", why)
        elif backend == "mamba_ssm":
            if not on_cuda:
                raise RuntimeError("mamba_ssm backend needs the model on a CUDA device")
            kernels.load()
        elif backend != "torch":
            raise ValueError(f"unknown backend {backend!r} (auto, torch, mamba_ssm)")
        for m in self.modules():
            if isinstance(m, (Mamba2Mixer, Stage)):
                m.backend = backend
        self.backend = backend
        log.info("Mamba-2 backend: %s on %s", backend, self.embed.weight.device)
        return backend

    # ---------------------------------------------------------------- parallel
    def forward(self, ids: Tensor, state: LMState | None = None, return_state: bool = False,
                lengths: Tensor | None = None) -> LMOutput:
        """ids (b, l) bytes -> logits (b, l, 256): logits[:, t] predicts byte t+1. lengths (b,): rows padded
        at the end, each row's state the one after its own last byte (Stage.forward; Mamba-2 layers only)."""
        x = self.embed(ids)
        inner = None if state is None else state.backbone
        more = {} if lengths is None else {"lengths": lengths}
        if isinstance(self.backbone, Stage):
            out = self.backbone(x, inner, return_state, **more)
            y, new_inner = out.y, out.state
            losses = self.backbone.ratio_losses(out)
            ratio = torch.stack(losses).sum() * self.config.ratio_loss_weight
            extra = dict(boundaries=out.boundaries, probs=out.probs, masks=out.masks)
        else:
            y, new_inner = self.backbone(x, inner, return_state, **more)
            ratio, extra = x.new_zeros(()).float(), {}
        logits = self.lm_head(y).float()
        new_state = None
        if return_state:
            new_state = LMState(new_inner, (0 if state is None else state.position) + ids.shape[1])
        return LMOutput(logits, ratio, state=new_state, **extra)

    def loss(self, ids: Tensor) -> tuple[Tensor, Tensor, LMOutput]:
        """Next-byte cross entropy (nats/byte) over ids[:, 1:], and the weighted ratio loss."""
        out = self(ids)
        ce = F.cross_entropy(out.logits[:, :-1].reshape(-1, out.logits.shape[-1]), ids[:, 1:].reshape(-1))
        return ce, out.ratio_loss, out

    # ---------------------------------------------------------------- recurrent
    def allocate_state(self, batch: int, device=None) -> LMState:
        return LMState(self.backbone.allocate_state(batch, device or self.embed.weight.device), 0)

    def set_fast_step(self, enabled: bool = True, rebuild: bool = False) -> str:
        """Decode with the fused CPU step (engine/fast_cpu.py, the int8 weights of the file where it had
        them) instead of the reference, and prefill with bf16 matmuls on those int8 weights (inside
        `fast_prefill()`). Built from the weights the first time: rebuild=True after changing them.
        Returns which step runs (logged)."""
        if self._fast_built is not None:
            self._fast_built.set_prefill(False)
        self.fast_step = None
        if enabled and self.embed.weight.device.type == "cpu":
            if rebuild or self._fast_built is None:
                from engine.fast_cpu import FastStep

                self._fast_built = FastStep(self, self._int8)
            self.fast_step = self._fast_built
            self.fast_step.set_prefill(True)
        how = self.fast_step.describe() if self.fast_step is not None else "reference step"
        log.info("decoding on %s: %s", self.embed.weight.device, how)
        return how

    def fast_prefill(self):
        """Context for a prefill pass: while the fused CPU step is on (set_fast_step), the bf16 prefill matmuls
        and the fast CPU scans (engine/ssm/cpu_scan.py) run inside it; otherwise the reference does."""
        if self.fast_step is None:
            return contextlib.nullcontext()
        from engine.ssm.cpu_scan import fast_prefill

        return fast_prefill()

    @torch.no_grad()
    def step(self, ids: Tensor, state: LMState, static: bool = False,
             reference: bool = False) -> tuple[Tensor, LMState, list[Tensor]]:
        """ids (b,) one byte per stream -> logits (b, 256) for the next byte, new state, boundary flags.
        static=True: no data-dependent control flow (for CUDA graphs; see Stage.step). The fused CPU
        step runs where set_fast_step() built one, unless reference=True; this code is its definition."""
        if self.fast_step is not None and not (static or reference) and ids.device.type == "cpu":
            return self.fast_step(ids, state)
        x = self.embed(ids)
        if isinstance(self.backbone, Stage):
            y, inner, fired = self.backbone.step(x, state.backbone, static)
        else:
            y, inner = self.backbone.step(x, state.backbone)
            fired = []
        return self.lm_head(y).float(), LMState(inner, state.position + 1), fired

    # ---------------------------------------------------------------- files
    def save(self, directory: str | Path, dtype: torch.dtype | str | None = None, extra: dict | None = None) -> Path:
        """Write config.json and model.safetensors, optionally cast (torch.float16 halves the file) or
        quantised ("int8": weight-only, per-row scales, see engine/quant.py)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        if dtype == "int8":
            tensors = quant.quantize(tensors)
        elif dtype is not None:
            tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        tensors = {k: v.contiguous() for k, v in tensors.items()}
        meta = {"format": "scriba", "format_version": str(FORMAT_VERSION), "weights": str(dtype or "float32")}
        save_file(tensors, str(directory / WEIGHTS), metadata=meta)
        cfg = json.loads(self.config.to_json())
        if extra:
            cfg["training"] = extra
        (directory / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device | None = None, backend: str = "auto") -> "HNetLM":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        if not directory.is_dir():
            raise ModelLoadError(f"no model at {directory}: not a directory")
        for name in (CONFIG, WEIGHTS):
            if not (directory / name).is_file():
                raise ModelLoadError(f"no model at {directory}: {name} is missing")
        try:
            config = ModelConfig.from_dict(json.loads((directory / CONFIG).read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelLoadError(f"{directory / CONFIG} is not a scriba model config: {exc}") from exc
        try:
            tensors = load_file(str(directory / WEIGHTS))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelLoadError(f"{directory / WEIGHTS} is unreadable (truncated or not safetensors): {exc}") from exc
        model = cls(config)
        int8 = quant.int8_weights(tensors)
        tensors = quant.dequantize(tensors)
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        if missing or unexpected:
            raise ModelLoadError(f"{directory} does not match its config: missing {missing[:3]}, "
                                 f"unexpected {unexpected[:3]}")
        model.eval()
        if device is not None:
            model.to(device)
        model.set_backend(backend)
        model._int8 = int8 if model.embed.weight.device.type == "cpu" else {}
        model.set_fast_step(model.embed.weight.device.type == "cpu")
        return model
