"""Access to the `mamba_ssm` Triton kernels (GPU backend), imported on demand.

The PyPI release mamba-ssm 2.3.2 imports its Mamba-1 CUDA extension `selective_scan_cuda`
unconditionally in `mamba_ssm/__init__.py`, so `import mamba_ssm.anything` fails where that
extension was not compiled (our wheel is built without it; upstream guarded the import in a
later, unreleased commit). scriba never uses Mamba-1, so before importing we register an empty
placeholder module under that name. Any attempt to actually call Mamba-1 then fails loudly
(AttributeError on the placeholder) instead of silently doing something else.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger("scriba.engine")


@dataclass(frozen=True)
class TritonKernels:
    chunk_scan: Callable[..., Any]  # mamba_chunk_scan_combined
    split_conv1d_scan: Callable[..., Any] | None  # fused path; needs causal_conv1d
    rmsnorm_gated: Callable[..., Any]  # rmsnorm_fn (norm_before_gate=False for Mamba-2)
    causal_conv1d: bool
    version: str


_cache: TritonKernels | None = None
_error: str | None = None


def _install_selective_scan_placeholder() -> bool:
    """Register an empty `selective_scan_cuda` if the real extension is absent. Returns True if done."""
    if "selective_scan_cuda" in sys.modules:
        return False
    try:
        importlib.import_module("selective_scan_cuda")
        return False
    except ImportError:
        placeholder = types.ModuleType("selective_scan_cuda")
        placeholder.__doc__ = "scriba placeholder: Mamba-1 CUDA extension not built (never used by scriba)"
        sys.modules["selective_scan_cuda"] = placeholder
        return True


def load() -> TritonKernels:
    """Import the Triton kernels or raise RuntimeError saying why they cannot run here."""
    global _cache, _error
    if _cache is not None:
        return _cache
    if _error is not None:
        raise RuntimeError(_error)
    import torch

    from engine.kernels.env import configure_triton_cache

    if not torch.cuda.is_available():
        _error = "mamba_ssm backend needs a CUDA GPU; none is available"
        raise RuntimeError(_error)
    configure_triton_cache()  # compiled kernels and autotuning results persist across launches
    try:
        placeholder = _install_selective_scan_placeholder()
        import mamba_ssm
        from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined, mamba_split_conv1d_scan_combined
    except ImportError as exc:  # not installed, or a dependency missing
        _error = f"mamba_ssm backend unavailable: {exc} (install the 'gpu' extra)"
        raise RuntimeError(_error) from exc
    try:
        import causal_conv1d  # noqa: F401

        has_conv = True
    except ImportError:
        has_conv = False
        log.warning("causal_conv1d not installed: Mamba-2 runs its unfused path (about 1.7x slower to train)")
    if placeholder:
        log.info("mamba_ssm: registered a placeholder for the Mamba-1 extension selective_scan_cuda (unused)")
    _cache = TritonKernels(
        chunk_scan=mamba_chunk_scan_combined,
        split_conv1d_scan=mamba_split_conv1d_scan_combined if has_conv else None,
        rmsnorm_gated=rmsnorm_fn,
        causal_conv1d=has_conv,
        version=getattr(mamba_ssm, "__version__", "?"),
    )
    return _cache


def availability() -> tuple[bool, str]:
    """(True, version) if the Triton backend can run here, else (False, reason)."""
    try:
        k = load()
        return True, f"mamba_ssm {k.version}" + (" + causal_conv1d" if k.causal_conv1d else "")
    except RuntimeError as exc:
        return False, str(exc)
