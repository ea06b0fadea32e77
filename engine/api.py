"""The one narrow interface the app uses: the `Engine` protocol and its in-process implementation.

The app never touches torch directly: it asks an Engine to generate candidates for a prompt
(built by engine.tasks), to score text in bits per byte, or to inspect text (per-byte entropy and
chunk boundaries per stage). `load_engine` picks the device and backend and says which it picked.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from engine.metrics import bits_per_byte
from engine.protocol import Candidate, Engine, EngineInfo, EngineUnavailable, GenerationRequest, Inspection
from engine.resources import bundled_model_dir

log = logging.getLogger("scriba.engine")

BUNDLED_MODEL = bundled_model_dir(check=False)  # checked when loaded (a missing model: no-model state)

__all__ = ["Candidate", "GenerationRequest", "EngineInfo", "Inspection", "Engine", "EngineUnavailable",
           "InProcessEngine", "load_engine", "BUNDLED_MODEL"]


class InProcessEngine:
    """The model in this process (CPU or GPU)."""

    def __init__(self, model, name: str | None = None):
        from engine.generate import Sampler

        self.model = model
        self.name = name or model.config.name
        self.sampler = Sampler(model)

    def generate(self, request, on_update=None, cancel=None):
        return self.sampler.generate(request, on_update, cancel)

    def _forward_bytes(self, data: bytes):
        """Logits for every position of BOS + data, run in segments so long texts fit in memory."""
        import torch

        from engine.bytes import BOS

        ids = [BOS] + list(data)
        device = self.model.embed.weight.device
        state, logits, bounds = None, [], [[] for _ in range(self.model.config.depth)]
        seg = 4096
        with torch.no_grad(), self.sampler.lock:
            for start in range(0, len(ids), seg):
                chunk = torch.tensor(ids[start:start + seg], device=device)[None]
                out = self.model(chunk, state=state, return_state=True)
                state = out.state
                logits.append(out.logits[0].float().cpu())
                # stage s boundaries are positions in stage s-1's chunk sequence: map them back to bytes
                positions = torch.arange(start, start + chunk.shape[1])
                for s, b in enumerate(out.boundaries):
                    positions = positions[b[0][: len(positions)].cpu()]
                    bounds[s].extend(int(p) - 1 for p in positions if p > 0)  # -1: offsets into data, not BOS
        return torch.cat(logits), bounds

    def score(self, text: str) -> float:
        import torch
        import torch.nn.functional as F

        data = text.encode("utf-8")
        if not data:
            return 0.0
        logits, _ = self._forward_bytes(data)
        target = torch.tensor(list(data))
        nats = F.cross_entropy(logits[:-1], target, reduction="sum")
        return bits_per_byte(float(nats), len(data))

    def inspect(self, text: str) -> Inspection:
        import torch

        data = text.encode("utf-8")
        if not data:
            return Inspection(text, [], [], [[] for _ in range(self.model.config.depth)])
        logits, bounds = self._forward_bytes(data)
        logp = torch.log_softmax(logits[:-1], -1)
        entropy = -(logp.exp() * logp).sum(-1) / math.log(2)
        surprisal = -logp.gather(1, torch.tensor(list(data))[:, None])[:, 0] / math.log(2)
        return Inspection(text, entropy.tolist(), surprisal.tolist(), bounds)

    def info(self) -> EngineInfo:
        from dataclasses import asdict

        return EngineInfo(self.name, self.model.backend, str(self.model.embed.weight.device),
                          self.model.num_params(), asdict(self.model.config))


def load_engine(model_dir: str | Path | None = None, backend: str = "auto",
                device: str | None = None, warm_up: bool = True,
                compile_cpu: bool | str = False) -> InProcessEngine:
    """Load a model directory (default: the bundled model) onto `device` ("cpu", "cuda", or None = the
    GPU if there is one). On CUDA, `warm_up` compiles the kernels and captures the decoding graphs now,
    so no request pays for them (Sampler.warm_up). On a CPU, `compile_cpu` compiles the decoding step
    (engine/cpu_compile.py: 1.2-1.3x over the eager fused step, README): "background" (the editor and the
    server) returns at once and decodes eagerly until the compiled regions take over (FastStep.
    compile_in_background: a cold compile takes 1-2 minutes, which no writer should wait for); True compiles
    before returning (scriba bench); False not at all (one-shot commands, which would exit before it ends).
    SCRIBA_CPU_COMPILE=0 turns it off, =1 on (in the background where the caller asked for that). Raises
    EngineUnavailable with a one-line reason."""
    import torch

    from engine.kernels.env import configure_triton_cache
    from engine.model import HNetLM, ModelLoadError

    configure_triton_cache()  # before anything imports triton

    model_dir = Path(model_dir) if model_dir else BUNDLED_MODEL
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailable(f"device {device} asked for, but no CUDA GPU is available here (use --device cpu)")
    if str(device) == "cpu":
        # The SSM states decay towards zero as bytes go by; subnormal floats are ~20x slower on x86 CPUs
        # and made decoding slow down as a generation grew (5 B/s after 300 bytes). Flushing them to zero
        # changes no result that matters (they are below 1e-38).
        torch.set_flush_denormal(True)
    try:
        model = HNetLM.load(model_dir, device=device, backend=backend)
    except ModelLoadError as exc:
        raise EngineUnavailable(str(exc)) from exc
    except RuntimeError as exc:  # e.g. mamba_ssm asked for where it cannot run
        raise EngineUnavailable(str(exc)) from exc
    engine = InProcessEngine(model, name=model.config.name)
    log.info("engine: %s", engine.info().summary())
    if warm_up and model.embed.weight.is_cuda:
        engine.sampler.warm_up()
    if model.fast_step is not None:
        from engine.cpu_compile import compile_wanted

        if compile_wanted(bool(compile_cpu)):
            if compile_cpu == "background":
                model.fast_step.compile_in_background()
            else:
                log.info("decoding on cpu: %s", model.fast_step.compile())
    return engine
