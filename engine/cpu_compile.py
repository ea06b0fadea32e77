"""torch.compile of the CPU decoding step's regions (engine/fast_cpu.py), at load.

A decode step at a batch of 1-3 streams is ~200 small ops in eager PyTorch, each paying dispatch and a
pass over its operands; Inductor turns each region (a stage's encoder and router; its inner network and
EMA; its decoder and the lm_head) into a few C++ loops around the int8 matmuls. Compiling takes tens of
seconds, so it happens once, when the engine loads, for the batch sizes a request uses (Inductor keeps
what it built in the user cache directory, so a second launch is faster); the first batch size after 1
compiles a graph with a symbolic batch, which any larger batch (the server's) reuses. Where compiling
fails (no C++ compiler, an unsupported op) the step keeps its eager regions, and says so in the log and
in `FastStep.describe()`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

log = logging.getLogger("scriba.engine")


def compile_wanted(default: bool) -> bool:
    """SCRIBA_CPU_COMPILE=1 / 0 asks for / against compiling the CPU step; otherwise the caller's default."""
    value = os.environ.get("SCRIBA_CPU_COMPILE", "").strip()
    if value in ("0", "1"):
        return value == "1"
    if value:
        log.warning("SCRIBA_CPU_COMPILE=%r ignored (use 0 or 1)", value)
    return default


def configure_inductor_cache() -> Path:
    """Point TORCHINDUCTOR_CACHE_DIR at <user cache>/scriba/inductor, unless the user set it."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("scriba")) / "inductor"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


class CompiledRegion:
    """A region function compiled for chosen batch sizes (static shapes: Inductor unrolls the batch), and
    eager for any other (the server's larger batches). Once warmed up it never compiles again: an input
    its graphs were not built for (another memory layout) runs eagerly, with a warning, rather than
    stalling a request for a recompile."""

    def __init__(self, eager, batches):
        self.eager, self.batches = eager, frozenset(batches)
        self.compiled = torch.compile(eager, fullgraph=True, dynamic=False)
        self.warm = False
        self.enabled = True  # False: the eager function for every batch (to time the two side by side)
        self.missed: set[str] = set()

    def __call__(self, x, *rest):
        if not self.enabled or x.shape[0] not in self.batches:
            return self.eager(x, *rest)
        if not self.warm:
            return self.compiled(x, *rest)
        try:
            with torch.compiler.set_stance("fail_on_recompile"):
                return self.compiled(x, *rest)
        except RuntimeError as exc:
            if not str(exc).startswith("Detected recompile"):
                raise
            reason = str(exc).splitlines()[-1].strip()
            if reason not in self.missed:
                self.missed.add(reason)
                log.warning("CPU decoding: %s ran eagerly (inputs unlike its compiled graphs: %s)",
                            self.eager.__qualname__, reason)
            return self.eager(x, *rest)


def _regions(step) -> list[tuple[object, str]]:
    """(object, attribute) of every compilable region function of the step."""
    out = []
    for region in step.backbone.regions():
        if not region.compilable:
            continue
        if hasattr(region, "run"):
            out.append((region, "run"))
        else:
            out += [(region, "enter"), (region, "leave")] + ([(region, "advance")] if region.masked_inner else [])
    return out


def set_compiled(step, enabled: bool) -> int:
    """Run the compiled regions of a step (where compile_step built them) or its eager ones. Returns how many."""
    regions = [getattr(obj, name) for obj, name in _regions(step)]
    regions = [r for r in regions if isinstance(r, CompiledRegion)]
    for r in regions:
        r.enabled = enabled
    return len(regions)


def compile_step(step, batches=(1, 2, 3)) -> str:
    """Compile the regions of a FastStep and run one step at each batch size (from a fresh state every
    region runs: the first byte is always a boundary). Returns what runs, for describe()."""
    regions = _regions(step)
    if not regions:
        return "eager regions (no region can be compiled: attention layers)"
    configure_inductor_cache()
    # Dynamo counts graphs per code object: the stages of a 2-stage model share StageStep._enter, and each
    # stage x batch size x state layout (allocated, then a step's output) is a graph of its own: 12 for
    # batches 1-3, over the default limit of 8 (hit, the compile failed and the step stayed eager)
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
    eager = {(id(obj), name): getattr(obj, f"_{name}") for obj, name in regions}
    t0 = time.perf_counter()
    try:
        for obj, name in regions:
            setattr(obj, name, CompiledRegion(eager[(id(obj), name)], batches))
        with torch.inference_mode():
            for b in batches:
                state = step.model.allocate_state(b)
                ids = torch.full((b,), 10, dtype=torch.long)
                for _ in range(2):
                    _, state, _ = step(ids, state)
    except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager regions still compute the step
        for obj, name in regions:
            setattr(obj, name, eager[(id(obj), name)])
        why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        log.warning("CPU decoding: torch.compile failed, the step runs eagerly (slower): %s", why)
        return f"eager regions (torch.compile failed: {why})"
    for obj, name in regions:
        getattr(obj, name).warm = True
    seconds = time.perf_counter() - t0
    log.info("CPU decoding: %d regions compiled for batches %s in %.1f s", len(regions), list(batches), seconds)
    regions_said = f"{len(regions)} region" + ("s" if len(regions) > 1 else "")
    return (f"{regions_said} compiled by torch.compile for batches {','.join(map(str, batches))} "
            f"(Inductor, {seconds:.0f} s at load)")
