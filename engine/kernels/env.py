"""Where Triton keeps what it compiles, and whether its kernels can run here.

Triton compiles every kernel on first use and mamba_ssm's scan kernels autotune over many configs: a
fresh process paid ~77 s for its first request. With the cache (and the autotuning results, which Triton
keeps only when TRITON_CACHE_AUTOTUNING=1) in the user cache directory, a second launch reads them back.
Both are set before triton is imported, unless the user set them.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("scriba.engine")


def configure_triton_cache() -> Path:
    """Point TRITON_CACHE_DIR at <user cache>/scriba/triton (unless set) and keep autotuning results."""
    if "TRITON_CACHE_DIR" not in os.environ:
        try:
            from platformdirs import user_cache_dir

            base = Path(user_cache_dir("scriba"))
        except ImportError:  # a bare GPU image: platformdirs' answer on Linux
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scriba"
        path = base / "triton"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["TRITON_CACHE_DIR"] = str(path)
    os.environ.setdefault("TRITON_CACHE_AUTOTUNING", "1")
    if "triton" in sys.modules:  # triton reads its knobs from the environment when used, so this still holds
        log.debug("triton was imported before its cache was configured")
    return Path(os.environ["TRITON_CACHE_DIR"])


def triton_status() -> tuple[bool, str]:
    """(True, how) if the Triton step kernels can run here (a CUDA GPU, or the interpreter), else (False, why)."""
    try:
        import triton  # noqa: F401
    except ImportError as exc:
        return False, f"triton not installed ({exc})"
    if os.environ.get("TRITON_INTERPRET") == "1":
        return True, "triton interpreter"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU (set TRITON_INTERPRET=1 to run the kernels through the interpreter)"
    return True, f"triton {triton.__version__}"
