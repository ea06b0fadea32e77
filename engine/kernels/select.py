"""Switch a model's recurrent step between the reference arithmetic and the fused Triton kernels."""

from __future__ import annotations

import logging

from engine.kernels.env import triton_status

log = logging.getLogger("scriba.engine")


def use_fused_step(model, impl: str = "auto") -> str:
    """impl "triton", "torch" (the reference step) or "auto" (triton where it can run). Returns the choice
    and logs it; asking for "triton" where it cannot run raises."""
    from engine.hnet import Stage
    from engine.layers import RMSNorm
    from engine.ssm import Mamba2Mixer

    ok, how = triton_status()
    on_cuda = model.embed.weight.is_cuda
    if impl == "auto":
        impl = "triton" if ok and on_cuda else "torch"
    if impl == "triton" and not ok:
        raise RuntimeError(f"fused step kernels cannot run here: {how}")
    if impl not in ("triton", "torch"):
        raise ValueError(f"unknown step implementation {impl!r} (auto, triton, torch)")
    for m in model.modules():
        if isinstance(m, (Mamba2Mixer, Stage, RMSNorm)):
            m.step_impl = impl if impl == "triton" else None
    log.info("decode step: %s", f"fused Triton kernels ({how})" if impl == "triton" else "reference (torch)")
    return impl
