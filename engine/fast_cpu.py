"""The decoding step on a CPU, fused: the same function as `HNetLM.step` (the PyTorch reference, which
stays the definition) in fewer, larger ops, with the int8 weights of the file used as they are.

Decoding one byte touches every byte-level layer and, where a boundary fires, the main network, at a
batch of 1-3 streams: it is bound by memory and by per-op overhead, not by arithmetic. So:
- weights that the file holds as int8 stay int8 and run through `torch._weight_int8pack_mm` (int8
  weights x bf16 activations, per-row scales) instead of being dequantised to fp32 (4x the bytes read
  per step); the lm_head stays fp32 so the logits keep fp32 precision;
- each Mamba-2 layer step is ~20 ops (native `rms_norm`, the conv as one `vecdot`, the state update as one
  `addcmul`, the readout as one matrix-vector product), with its constants (A = -exp(A_log), conv taps) precomputed;
- the main network steps only the streams where a boundary fired by zeroing the others' dt (their
  state stays bit-identical), instead of stepping all and selecting states back (3 more passes over them);
- an H-Net stage reads its encoder output once for router q and k, the residual and the down projection
  (one matmul over the concatenated weights).
Prefill (the parallel forward over a segment) is bound by matmul arithmetic instead: `PrefillLinear`
multiplies the int8 weights, exact in bf16 (|q| <= 127), by bf16 activations through oneDNN (AVX512-BF16
where the CPU has it) and applies the per-row scales in fp32 afterwards.
States have the reference's layout (StageState / MixerState), so prefill states, the prefix cache and
`tree_map` / `tree_select` work unchanged. tests/engine/test_cpu_fast.py holds it to the reference.
"""

from __future__ import annotations

import logging
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from engine.hnet import P_EPS, Stage, StageState
from engine.layers import Stack
from engine.ssm import Mamba2Mixer, MixerState, cpu_scan
from engine.state import tree_select

log = logging.getLogger("scriba.engine")

# Intra-op threads for a decode step. Its ops are small (a batch of 1-3 rows), so splitting them over
# cores gains little, and each op ends at a barrier: on a 2-core machine where another process holds a
# core, two threads made decoding ~10x slower (measured: 3 vs 30 B/s on this busy machine).
DECODE_THREADS = 1

Int8Weights = dict[str, tuple[Tensor, Tensor]]  # parameter name -> (int8 (out, in), fp16 scale (out, 1))


def int8_matmul_available() -> tuple[bool, str]:
    """Whether this torch has the int8-weight matmul on the CPU (probed once on a tiny input)."""
    try:
        q = torch.ones(8, 32, dtype=torch.int8)
        y = torch._weight_int8pack_mm(torch.ones(1, 32, dtype=torch.bfloat16), q, torch.ones(8, dtype=torch.bfloat16))
        return bool(y.float().eq(32).all()), "torch._weight_int8pack_mm"
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        return False, f"torch._weight_int8pack_mm unavailable: {exc}"


class FusedLinear:
    """y = x [W_1; W_2; ...]^T for a decode step: int8 weights x bf16 activations where every part has
    int8 weights (bf16 output, returned as fp32), else fp32 weights. Concatenating the parts of layers
    that read the same input turns several small matmuls into one.

    (Written as an fp32 reduction over the int8 weights instead, Inductor folds the preceding RMSNorm into
    the reduction's inner loop and recomputes it for every weight: slower than this kernel.)"""

    def __init__(self, names: list[str], linears: list[nn.Linear], int8: Int8Weights | None):
        self.sizes = [lin.out_features for lin in linears]
        parts = [int8.get(n) for n in names] if int8 else []
        if parts and all(p is not None for p in parts):
            self.q = torch.cat([p[0] for p in parts]).contiguous()
            self.scale = torch.cat([p[1].reshape(-1) for p in parts]).to(torch.bfloat16)
            self.w = None
        else:
            self.q = self.scale = None
            self.w = torch.cat([lin.weight.detach().float() for lin in linears]).contiguous()

    @property
    def int8(self) -> bool:
        return self.q is not None

    def __call__(self, x: Tensor) -> Tensor:
        if self.q is not None:
            return torch._weight_int8pack_mm(x.to(torch.bfloat16), self.q, self.scale).float()
        return F.linear(x, self.w)


# PrefillLinears take their bf16 path inside `cpu_scan.fast_prefill()` (the sampler's prefill), and the Mamba-2
# layers and the EMA their fast CPU scans (engine/ssm/cpu_scan.py); scoring and inspection outside it keep the
# reference fp32 arithmetic, so bits per byte are the reference's.


class PrefillLinear(nn.Linear):
    """An nn.Linear of an inference model loaded from int8 weights: on a long input inside fast_prefill()
    (a prefill segment, no autograd) x q^T in bf16 then * scale in fp32; anything else (training, one
    position) as nn.Linear.
    `enable` turns an nn.Linear into one in place (its parameters and state_dict keys stay as they are)."""

    MIN_ROWS = 16  # below this a matmul reads more weight than it computes with: the fp32 path is as fast

    @classmethod
    def enable(cls, lin: nn.Linear, q: Tensor, scale: Tensor) -> "PrefillLinear":
        lin.__class__ = cls
        lin.q_bf16, lin.scale, lin.fast = q.to(torch.bfloat16), scale.float().reshape(-1), True
        return lin

    def forward(self, x: Tensor) -> Tensor:
        if self.fast and x.dim() == 3 and x.shape[1] >= self.MIN_ROWS and cpu_scan.active(x):
            y = torch.mul(F.linear(x.to(torch.bfloat16), self.q_bf16), self.scale)  # fp32: one pass, not two
            return y if self.bias is None else y + self.bias
        return super().forward(x)


def enable_prefill_linears(model: nn.Module, int8: Int8Weights, enabled: bool = True) -> int:
    """Every linear layer whose weight the file held as int8 (the lm_head excepted, for fp32 logits)
    becomes (or stops being used as) a PrefillLinear. Returns how many."""
    count = 0
    for name, mod in model.named_modules():
        pair = int8.get(f"{name}.weight")
        if pair is None or not isinstance(mod, nn.Linear) or name == "lm_head":
            continue
        if not isinstance(mod, PrefillLinear):
            PrefillLinear.enable(mod, *pair)
        mod.fast = enabled
        count += 1
    return count


class MambaLayerStep:
    """One pre-norm residual Mamba-2 layer of a Stack: x + mixer(norm(x)), one position."""

    def __init__(self, prefix: str, norm: nn.Module, mixer: Mamba2Mixer, int8: Int8Weights | None):
        self.d, self.norm_w, self.norm_eps = norm.weight.numel(), norm.weight.detach().float(), norm.eps
        self.in_proj = FusedLinear([f"{prefix}.in_proj.weight"], [mixer.in_proj], int8)
        self.out_proj = FusedLinear([f"{prefix}.out_proj.weight"], [mixer.out_proj], int8)
        self.conv_w = mixer.conv1d.weight.detach()[:, 0].float().contiguous()  # (conv_dim, d_conv)
        self.conv_b = mixer.conv1d.bias.detach().float()
        self.dt_bias = mixer.dt_bias.detach().float()
        self.A = -torch.exp(mixer.A_log.detach().float())
        self.D = mixer.D.detach().float()[:, None]  # (h, 1): broadcasts over headdim
        self.gate_w, self.gate_eps = mixer.norm.weight.detach().float(), mixer.eps
        self.d_inner, self.n, self.h, self.p = mixer.d_inner, mixer.d_state, mixer.nheads, mixer.headdim
        self.sizes = [mixer.d_inner, mixer.conv_dim, mixer.nheads]
        if mixer.ngroups != 1:
            raise ValueError("the fused CPU step supports ngroups=1 (as the mixer does)")

    def __call__(self, x: Tensor, s: MixerState, keep: Tensor | None = None) -> tuple[Tensor, MixerState]:
        """keep (b,) bool or None: rows where it is False leave their state exactly as it was (dt = 0:
        decay exp(0) = 1, input 0), which costs less than stepping them and selecting the old state back."""
        b, h, p, n = x.shape[0], self.h, self.p, self.n
        u = F.rms_norm(x, (self.d,), self.norm_w, self.norm_eps)
        z, xBC, dt = self.in_proj(u).split(self.sizes, dim=-1)
        conv = torch.cat([s.conv[..., 1:], xBC[..., None].to(s.conv.dtype)], dim=-1)
        xBC = F.silu(torch.linalg.vecdot(conv, self.conv_w) + self.conv_b)
        xs, B, C = xBC.split([self.d_inner, n, n], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        if keep is not None:
            dt = dt * keep[:, None]
            conv = torch.where(keep[:, None, None], conv, s.conv)
        xs = xs.reshape(b, h, p)
        if torch.compiler.is_compiling():  # elementwise and one reduction: Inductor makes one pass of it
            ssm = s.ssm * torch.exp(dt * self.A)[..., None, None] + (dt[..., None] * xs)[..., None] * B[:, None, None]
            y = (ssm * C[:, None, None]).sum(-1)
        else:
            ssm = s.ssm * torch.exp(dt * self.A)[..., None, None]
            ssm.addcmul_((dt[..., None] * xs)[..., None], B.reshape(b, 1, 1, n))  # in place: a fresh tensor
            if b == 1:  # one matrix-vector product; batched (bmm) is ~10x slower here, vecdot is not
                y = torch.mm(ssm.view(h * p, n), C.reshape(n, 1)).view(b, h, p)
            else:
                y = torch.linalg.vecdot(ssm, C.reshape(b, 1, 1, n))
        y = torch.addcmul(y, xs, self.D).view(b, self.d_inner)
        y = F.rms_norm(y * F.silu(z), (self.d_inner,), self.gate_w, self.gate_eps)
        return x + self.out_proj(y), MixerState(conv, ssm)


class ReferenceLayerStep:
    """Any other layer kind (attention, SwiGLU): the reference step."""

    def __init__(self, norm: nn.Module, mixer: nn.Module):
        self.norm, self.mixer = norm, mixer
        self.state_free = mixer.allocate_state(1) is None  # SwiGLU: nothing to keep

    def __call__(self, x: Tensor, s):
        y, s = self.mixer.step(self.norm(x), s)
        return x + y, s


class StackStep:
    def __init__(self, prefix: str, stack: Stack, int8: Int8Weights | None):
        self.layers = [MambaLayerStep(f"{prefix}.mixers.{i}", norm, mixer, int8) if isinstance(mixer, Mamba2Mixer)
                       else ReferenceLayerStep(norm, mixer)
                       for i, (norm, mixer) in enumerate(zip(stack.norms, stack.mixers))]
        self.final_w, self.final_eps = stack.final_norm.weight.detach().float(), stack.final_norm.eps
        self.d = self.final_w.numel()
        self.n_stages = 0

    @property
    def maskable(self) -> bool:
        """Whether every layer can leave chosen rows' state untouched (Mamba-2 and stateless layers)."""
        return all(isinstance(layer, MambaLayerStep) or layer.state_free for layer in self.layers)

    @property
    def compilable(self) -> bool:
        """Only Mamba-2 layers: a state of fixed shape (an attention cache grows every step)."""
        return all(isinstance(layer, MambaLayerStep) for layer in self.layers)

    def __call__(self, x: Tensor, state: list, keep: Tensor | None = None) -> tuple[Tensor, list]:
        new = []
        for layer, s in zip(self.layers, state):
            x, s = layer(x, s, keep) if isinstance(layer, MambaLayerStep) else layer(x, s)
            new.append(s)
        return F.rms_norm(x, (self.d,), self.final_w, self.final_eps), new


class StackRegion:
    """A Stack as a whole step, the form the stage steps call: (x, state) -> (y, state, fired=[]), with an
    optional head (the lm_head) applied to its output."""

    def __init__(self, stack: StackStep, head: FusedLinear | None = None):
        self.stack, self.head, self.n_stages = stack, head, 0
        self.run = self._run  # compile_regions() replaces it with its compiled form
        self.compilable = stack.compilable

    def _run(self, x: Tensor, state: list) -> tuple[Tensor, list]:
        y, state = self.stack(x, state)
        return (y if self.head is None else self.head(y)), state

    def regions(self) -> list:
        return [self]

    def __call__(self, x: Tensor, state: list) -> tuple[Tensor, list, list[Tensor]]:
        y, state = self.run(x, state)
        return y, state, []


class StageStep:
    """Stage.step: encoder -> route (the first position always a boundary) -> inner network for the
    streams where a boundary fires -> EMA of its output -> decoder over residual + smoothed value.

    Three regions, each a straight run of tensor ops with no host sync: `enter` (encoder and router),
    `advance` (the inner network for the rows that fired, then the EMA) and `leave` (decoder, and the
    head where given); `compile_regions` compiles each one. Between them, one host sync per byte decides
    whether the inner network runs at all (most bytes skip it)."""

    def __init__(self, prefix: str, stage: Stage, int8: Int8Weights | None, head: FusedLinear | None = None):
        self.encoder = StackStep(f"{prefix}.encoder", stage.encoder, int8)
        self.decoder = StackStep(f"{prefix}.decoder", stage.decoder, int8)
        self.inner = (StageStep(f"{prefix}.inner", stage.inner, int8) if isinstance(stage.inner, Stage)
                      else StackStep(f"{prefix}.inner", stage.inner, int8))
        r = stage.router
        names = [f"{prefix}.router.q_proj.weight", f"{prefix}.router.k_proj.weight", f"{prefix}.residual.weight",
                 f"{prefix}.down.weight"]
        self.from_h = FusedLinear(names, [r.q_proj, r.k_proj, stage.residual, stage.down], int8)
        self.up = FusedLinear([f"{prefix}.up.weight"], [stage.up], int8)
        self.head = head
        self.n_stages = 1 + self.inner.n_stages
        self.masked_inner = isinstance(self.inner, StackStep)  # a stage's inner stack is maskable (no attention)
        self.enter, self.advance, self.leave = self._enter, self._advance, self._leave
        self.compilable = self.encoder.compilable and self.decoder.compilable

    def _enter(self, x: Tensor, st: StageState):
        h, enc = self.encoder(x, st.encoder)
        q, k, res, down = self.from_h(h).split(self.from_h.sizes, dim=-1)
        cos = F.cosine_similarity(q, st.k_prev, dim=-1)
        p = torch.where(st.has_prev, ((1 - cos) / 2).clamp(0.0, 1.0), 1.0)
        return enc, k, res, down, p, p >= 0.5

    def _advance(self, down: Tensor, inner: list, zbar: Tensor, p: Tensor, b: Tensor) -> tuple[Tensor, list]:
        """The masked inner stack for the rows where b, then the EMA (the other rows keep zbar and state)."""
        z, inner = self.inner(down, inner, keep=b)
        return self._smooth(z, zbar, p, b), inner

    def _smooth(self, z: Tensor, zbar: Tensor, p: Tensor, b: Tensor) -> Tensor:
        """The EMA of the inner network's output: zbar moves toward up(z) by p where b fired."""
        w = p.clamp(P_EPS, 1 - P_EPS)[:, None]
        return torch.where(b[:, None], w * self.up(z) + (1 - w) * zbar, zbar)

    def _leave(self, res: Tensor, zbar: Tensor, dec: list) -> tuple[Tensor, list]:
        y, dec = self.decoder(res + zbar, dec)
        return (y if self.head is None else self.head(y)), dec

    def regions(self) -> list:
        return [self] + (self.inner.regions() if isinstance(self.inner, StageStep) else [])

    def __call__(self, x: Tensor, st: StageState) -> tuple[Tensor, StageState, list[Tensor]]:
        enc, k, res, down, p, b = self.enter(x, st)
        inner_state, zbar = st.inner, st.zbar
        inner_fired = [torch.zeros_like(b)] * self.inner.n_stages
        if bool(b.any()):  # a host sync per byte: free on a CPU, and most bytes skip the inner network
            if self.masked_inner:
                zbar, inner_state = self.advance(down, st.inner, st.zbar, p, b)
            else:
                z, stepped, inner_fired = self.inner(down, st.inner)
                inner_state = tree_select(b, stepped, st.inner)
                zbar = self._smooth(z, st.zbar, p, b)
        y, dec = self.leave(res, zbar, st.decoder)
        fired = [b] + [b & f for f in inner_fired]
        return y, StageState(enc, k, torch.ones_like(st.has_prev), inner_state, zbar, dec), fired


class FastStep:
    """`HNetLM.step` (static=False) on a CPU: ids (b,) -> logits (b, 256) fp32, new state, boundary flags.
    Built from the model's weights when it is made; rebuild it after changing them. `compile()` turns its
    regions into Inductor kernels (engine/cpu_compile.py); until then, or where that fails, they run eagerly."""

    def __init__(self, model, int8: Int8Weights | None = None):
        if int8:
            ok, why = int8_matmul_available()
            if not ok:
                log.warning("CPU decoding: int8 weights dequantised to fp32 (%s)", why)
                int8 = None
        self.embed = model.embed.weight.detach()
        # the logits keep fp32 weights and activations: bf16 would round them by up to ~0.05 nats
        lm_head = FusedLinear(["lm_head.weight"], [model.lm_head], None)
        bb = model.backbone
        self.backbone = (StageStep("backbone", bb, int8, head=lm_head) if isinstance(bb, Stage)
                         else StackRegion(StackStep("backbone", bb, int8), head=lm_head))
        self.int8 = bool(int8)
        self.model, self.int8_weights = model, int8 or {}
        self.compiled: str | None = None  # what compile() made of the regions, once it ran (said by describe)
        self.compiled_on = False
        self.compiling: threading.Thread | None = None  # compile_in_background()'s thread, while it runs

    def set_prefill(self, enabled: bool) -> int:
        """bf16 prefill matmuls on the int8 weights (PrefillLinear), or the reference fp32 ones."""
        return enable_prefill_linears(self.model, self.int8_weights, enabled)

    def compile(self, batches=(1, 2, 3)) -> str:
        """Compile the step's regions for these batch sizes now (at load, not in a request). Returns how
        the step runs; a failure is logged and leaves the eager regions."""
        from engine.cpu_compile import compile_step

        self.compiled = compile_step(self, batches)
        self.compiled_on = not self.compiled.startswith("eager")
        return self.compiled

    def compile_in_background(self, batches=(1, 2, 3)) -> threading.Thread:
        """Compile the regions on a thread of their own while this step keeps decoding eagerly, then switch to
        them between two steps. The compile runs on a shadow FastStep built from the same weights (its own
        region objects, so the step that decodes meanwhile never meets a half-built graph) and the switch is
        one attribute: a step in flight finishes on the regions it started with. Nothing waits for it; a
        failure leaves the eager regions, logged and said by describe(). Returns the (daemon) thread."""
        shadow = FastStep(self.model, self.int8_weights or None)
        started = time.perf_counter()

        def run():
            how = shadow.compile(batches)
            if shadow.compiled_on:
                self.backbone = shadow.backbone  # the switch: the next step runs the compiled regions
                self.compiled_on = True
                how = f"{how}, in the background: running {time.perf_counter() - started:.0f} s after load"
                log.info("CPU decoding: switched to the compiled regions (%s)", how)
            self.compiled, self.compiling = how, None

        self.compiling = threading.Thread(target=run, name="scriba-cpu-compile", daemon=True)
        self.compiling.start()
        log.info("CPU decoding: compiling the step's regions in the background; eager regions until then")
        return self.compiling

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait for a background compile (if one runs). Returns whether compiled regions run now."""
        thread = self.compiling
        if thread is not None:
            thread.join(timeout)
        return self.compiled_on

    def use_compiled(self, enabled: bool) -> bool:
        """Switch between the compiled regions (once compile() built them) and the eager ones. Returns
        whether compiled regions run now."""
        from engine.cpu_compile import set_compiled

        self.compiled_on = bool(set_compiled(self, enabled)) and enabled
        return self.compiled_on

    def describe(self) -> str:
        how = ("fused step, int8 weights x bf16 activations (torch._weight_int8pack_mm); prefill matmuls "
               "int8 weights x bf16 activations" if self.int8 else "fused step, fp32 weights")
        if self.compiling is not None:
            regions = "eager regions (compiling in the background: compiled regions take over when ready)"
        elif self.compiled is None or not (self.compiled_on or self.compiled.startswith("eager")):
            regions = "eager regions"
        else:
            regions = self.compiled  # what was compiled, or why nothing was
        return f"{how}; {regions}; {DECODE_THREADS} decode thread"

    def __call__(self, ids: Tensor, state) -> tuple[Tensor, object, list[Tensor]]:
        threads = torch.get_num_threads()
        if threads != DECODE_THREADS:
            torch.set_num_threads(DECODE_THREADS)  # < 1 µs; the prefill keeps torch's default
        try:
            logits, inner, fired = self.backbone(F.embedding(ids, self.embed), state.backbone)
            # type(state): an LMState, named so because engine.model imports this module
            return logits, type(state)(inner, state.position + 1), fired
        finally:
            if threads != DECODE_THREADS:
                torch.set_num_threads(threads)
