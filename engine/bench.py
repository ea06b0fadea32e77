"""Training and decoding speed of a 1-stage H-Net against an isotropic Mamba-2 byte model with the same
parameter count, measured in the same run on the same device and backend (`scriba bench`, app/cli/bench.py).
Also: how fast a trained model writes through the Engine (`run_model_bench`, `scriba bench --model`).

Training: forward+backward bytes/s and model FLOP utilisation (matmul FLOPs, 6 per parameter per
position it runs at, against a bf16/fp32 matmul ceiling measured in the same run). The H-Net's main
network runs on chunks, so before timing its router is briefly fitted to the target ratio with the
ratio loss alone (a freshly initialised router cuts at whatever rate its random encoder gives).
Decoding: µs per byte at batch 1 and aggregate bytes/s at batch 64, eager and (on CUDA) CUDA graphs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from engine.api import load_engine
from engine.config import ModelConfig, preset
from engine.cuda_graph import GraphedStep
from engine.hnet import Stage
from engine.model import HNetLM
from engine.protocol import GenerationRequest
from engine.resources import MissingResource, demo_document
from engine.tasks import Action, Task, build_prompt

log = logging.getLogger("scriba.engine")


def baseline_config(hnet: ModelConfig) -> ModelConfig:
    """An isotropic Mamba-2 at the byte width whose parameter count is closest to the H-Net's."""
    target = HNetLM(hnet).num_params()
    best = None
    for n in range(1, 64):
        cfg = replace(hnet, name=f"iso-m{n}", layout=[f"m{n}"], d_model=hnet.d_model[:1], target_ratio=[],
                      lr_multiplier=[1.0])
        diff = abs(HNetLM(cfg).num_params() - target)
        if best is None or diff < best[0]:
            best = (diff, cfg)
    return best[1]


def matmul_flops_per_byte(model: HNetLM, compression: list[float]) -> float:
    """6 FLOPs (fwd+bwd) per weight per position the weight runs at: byte-level weights at every
    byte, stage-s weights at 1 / (product of the first s compression ratios) of the bytes."""
    total, depth_rate = 0.0, [1.0]
    for r in compression:
        depth_rate.append(depth_rate[-1] / r)

    def walk(module, depth):
        nonlocal total
        if isinstance(module, Stage):
            for part in (module.encoder, module.router, module.residual, module.decoder):
                total += 6 * depth_rate[depth] * sum(p.numel() for p in part.parameters())
            total += 6 * depth_rate[depth + 1] * (module.down.weight.numel() + module.up.weight.numel())
            walk(module.inner, depth + 1)
        else:
            total += 6 * depth_rate[depth] * sum(p.numel() for p in module.parameters())

    walk(model.backbone, 0)
    total += 6 * model.lm_head.weight.numel()
    return total


def calibrate_router(model: HNetLM, data: torch.Tensor, steps: int = 60) -> list[float]:
    """Fit the routers to the target ratio with the ratio loss alone; returns the achieved ratios."""
    routers = [p for n, p in model.named_parameters() if "router" in n]
    if not routers:
        return []
    opt = torch.optim.Adam(routers, lr=2e-2)
    for _ in range(steps):
        with torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=data.is_cuda):
            out = model(data)
        out.ratio_loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        return model(data).compression()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_train(model: HNetLM, data: torch.Tensor, steps: int) -> float:
    """Seconds per forward+backward (median of `steps` after warm-up)."""
    device = data.device
    times = []
    for i in range(steps + 2):
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            ce, ratio, _ = model.loss(data)
        (ce + ratio).backward()
        _sync(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return sorted(times)[len(times) // 2]


def time_decode(model: HNetLM, batch: int, steps: int, graph: bool) -> float:
    """Seconds per decoding step for `batch` streams."""
    device = model.embed.weight.device
    ids = torch.randint(0, 128, (batch,), device=device)
    if graph:
        graphed = GraphedStep(model, batch)

        def run():
            graphed(ids)
    else:
        state = model.allocate_state(batch)

        def run():
            nonlocal state
            _, state, _ = model.step(ids, state)
    for _ in range(5):
        run()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        run()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def matmul_ceiling(device: torch.device) -> float:
    """Measured dense matmul FLOP/s on this device (bf16 on CUDA, fp32 on CPU): the MFU denominator."""
    n = 8192 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    reps = 20 if device.type == "cuda" else 5
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


@dataclass
class BenchResult:
    name: str
    params: int
    compression: list[float]
    train_bytes_per_s: float
    mfu: float
    decode_us_per_byte_b1: float
    decode_bytes_per_s_b64: float
    decode_graph_us_per_byte_b1: float | None = None
    decode_graph_bytes_per_s_b64: float | None = None


def run_bench(size: str = "small", device: str | None = None, backend: str = "auto", batch: int | None = None,
              seq_len: int | None = None, steps: int | None = None, cuda_graph: bool | None = None,
              text: bytes | None = None) -> dict:
    """Train and decode speed of the H-Net of size `size` (engine.config.PRESETS) and of its isotropic
    baseline, on `text` (default: the demo document) repeated to batch × seq_len bytes."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    on_gpu = device.type == "cuda"
    batch = batch or (8 if on_gpu else 1)
    seq_len = seq_len or (8192 if on_gpu else 2048)
    steps = steps or (10 if on_gpu else 3)
    cuda_graph = on_gpu if cuda_graph is None else cuda_graph
    if not on_gpu:
        torch.set_flush_denormal(True)  # as load_engine does for CPU decoding (see engine/api.py)
    hnet_cfg = replace(preset(size), name=f"hnet-{size}")
    configs = [hnet_cfg, baseline_config(hnet_cfg)]
    text = text or _sample_text()
    reps = text * (batch * seq_len // max(1, len(text)) + 1)
    data = torch.tensor(list(reps[: batch * seq_len]), dtype=torch.long, device=device).view(batch, seq_len)
    ceiling = matmul_ceiling(device)
    results = []
    for cfg in configs:
        torch.manual_seed(0)
        model = HNetLM(cfg).to(device)
        chosen = model.set_backend(backend)
        # fitted on the timed shape: no extra kernel compiles
        compression = calibrate_router(model, data) if cfg.depth else []
        model.train()
        sec = time_train(model, data, steps)
        flops = matmul_flops_per_byte(model, compression) * batch * seq_len
        model.eval()
        dec1 = time_decode(model, 1, 200 if on_gpu else 100, graph=False)
        dec64 = time_decode(model, 64, 50 if on_gpu else 10, graph=False)
        r = BenchResult(cfg.name, model.num_params(), [round(c, 2) for c in compression], batch * seq_len / sec,
                        flops / sec / ceiling, dec1 * 1e6, 64 / dec64)
        if cuda_graph:
            r.decode_graph_us_per_byte_b1 = time_decode(model, 1, 500, graph=True) * 1e6
            r.decode_graph_bytes_per_s_b64 = 64 / time_decode(model, 64, 200, graph=True)
        results.append(r)
        del model
    h, b = results
    return {
        "device": torch.cuda.get_device_name(device) if on_gpu else f"cpu ({torch.get_num_threads()} threads)",
        "backend": chosen, "batch": batch, "seq_len": seq_len, "matmul_ceiling_tflops": ceiling / 1e12,
        "models": [asdict(r) for r in results],
        "ratios": {
            "train_bytes_per_s": h.train_bytes_per_s / b.train_bytes_per_s,
            "decode_b1": b.decode_us_per_byte_b1 / h.decode_us_per_byte_b1,
            "decode_b64": h.decode_bytes_per_s_b64 / b.decode_bytes_per_s_b64,
        },
    }


def _sample_text() -> bytes:
    try:
        return demo_document().read_bytes()
    except MissingResource:
        return Path(__file__).read_bytes()  # any real text will do; this file is always there


def format_table(report: dict) -> str:
    lines = [f"device: {report['device']} · backend: {report['backend']} · batch {report['batch']} × "
             f"{report['seq_len']} bytes · matmul ceiling {report['matmul_ceiling_tflops']:.1f} TFLOP/s"]
    head = f"{'model':<14}{'params':>9}{'ratio':>12}{'train B/s':>12}{'MFU':>7}{'dec µs/B b1':>13}{'dec B/s b64':>13}"
    graph = report["models"][0]["decode_graph_us_per_byte_b1"] is not None
    if graph:
        head += f"{'graph µs/B b1':>15}{'graph B/s b64':>15}"
    lines.append(head)
    for m in report["models"]:
        row = (f"{m['name']:<14}{m['params'] / 1e6:>8.1f}M{str(m['compression'] or '-'):>12}"
               f"{m['train_bytes_per_s']:>12,.0f}{m['mfu']:>7.1%}{m['decode_us_per_byte_b1']:>13,.0f}"
               f"{m['decode_bytes_per_s_b64']:>13,.0f}")
        if graph:
            row += f"{m['decode_graph_us_per_byte_b1']:>15,.0f}{m['decode_graph_bytes_per_s_b64']:>15,.0f}"
        lines.append(row)
    r = report["ratios"]
    lines.append(f"H-Net / baseline: train {r['train_bytes_per_s']:.2f}x · decode b1 {r['decode_b1']:.2f}x · "
                 f"decode b64 {r['decode_b64']:.2f}x")
    return "\n".join(lines)


def run_model_bench(model_dir: str, device: str | None = None, backend: str = "auto", context: int = 4096,
                    new_bytes: int = 300, baseline: str = "reference", repeats: int = 3) -> dict:
    """How fast a trained model writes, end to end through the Engine (sampling and UTF-8 masking
    included): prefill of a `context`-byte document, then decoding for 1 and 3 candidates. Each figure is
    the median of `repeats` runs. On a CPU the product path ("fast": the fused step with its regions
    compiled at load, engine/cpu_compile.py) is timed beside the same step run eagerly ("eager", the fused
    step before compilation) and, with baseline="reference", the reference step (HNetLM.step), interleaved
    in the same run, so a busy machine slows all alike. EngineUnavailable when the model cannot load."""
    import statistics

    engine = load_engine(model_dir, backend=backend, device=device, compile_cpu=True)
    model = engine.model
    text = (_sample_text() * (context // max(1, len(_sample_text())) + 1)).decode("utf-8", "ignore")
    prompt = build_prompt(Task(Action.CONTINUE, "paragraph", text[:context], "")).data
    fast = model.fast_step
    paths = {"fast": (fast is not None, True)}  # name -> (fused step, compiled regions)
    if fast is not None and fast.compiled_on:
        paths["eager"] = (True, False)
    if baseline == "reference":
        paths["reference"] = (False, False)
    elif baseline != "none":
        raise ValueError(f"unknown baseline {baseline!r} (reference, none)")

    def use(name: str) -> str:
        fused, compiled = paths[name]
        how = model.set_fast_step(fused)
        if fused and model.fast_step is not None:
            model.fast_step.use_compiled(compiled)
            how = model.fast_step.describe()
        return how

    runs: dict = {name: {"prefill": [], 1: [], 3: []} for name in paths}
    for rep in range(repeats + 1):  # round 0 (short) warms up the allocator and the caches; not counted
        for name in paths:
            use(name)
            engine.sampler.cache.clear()
            t = time.perf_counter()
            engine.sampler.prefill(prompt)
            if rep:
                runs[name]["prefill"].append(len(prompt) / (time.perf_counter() - t))
            for n in (1, 3):
                req = GenerationRequest(prompt, stop=[], n=n, max_bytes=new_bytes if rep else 16, seed=rep)
                t = time.perf_counter()
                cands = engine.generate(req)  # the prefix is cached now: this times decoding
                if rep:
                    runs[name][n].append(sum(c.nbytes for c in cands) / (time.perf_counter() - t))
    report = {"model": engine.info().summary(), "threads": torch.get_num_threads(), "repeats": repeats,
              "step": {name: use(name) for name in paths}, "paths": {}}
    use("fast")
    for name in paths:
        med = {k: statistics.median(v) for k, v in runs[name].items()}
        report["paths"][name] = {
            "prefill_bytes_per_s": med["prefill"],
            "decode": [{"candidates": n, "bytes_per_s": med[n], "per_candidate": med[n] / n} for n in (1, 3)]}
    first = report["paths"]["fast"]
    report["prefill_bytes_per_s"], report["decode"] = first["prefill_bytes_per_s"], first["decode"]  # as before
    return report


def format_model_report(r: dict) -> str:
    lines = [f"{r['model']} · {r['threads']} threads · medians of {r.get('repeats', 1)} runs"]
    paths = r.get("paths") or {"fast": r}
    for name, p in paths.items():
        step = r.get("step", {}).get(name, "")
        lines.append(f"{name} ({step}):" if step else f"{name}:")
        lines.append(f"  prefill {p['prefill_bytes_per_s']:,.0f} B/s")
        for d in p["decode"]:
            lines.append(f"  decode, {d['candidates']} candidate(s): {d['bytes_per_s']:,.0f} B/s "
                         f"({d['per_candidate']:,.0f} B/s each)")
    for base in ("eager", "reference"):
        if base in paths and "fast" in paths:
            f, b = paths["fast"], paths[base]
            ratios = [f"prefill {f['prefill_bytes_per_s'] / b['prefill_bytes_per_s']:.2f}x"]
            ratios += [f"{x['candidates']} cand. {x['bytes_per_s'] / y['bytes_per_s']:.2f}x"
                       for x, y in zip(f["decode"], b["decode"])]
            lines.append(f"fast / {base}: " + " · ".join(ratios))
    return "\n".join(lines)


# ---------------------------------------------------------------- the product path on a GPU
def _product_prompt(nbytes: int) -> bytes:
    text = _sample_text()
    return bytes([0xF5]) + (text * (nbytes // max(1, len(text)) + 1))[: nbytes - 1]


def _time_generate(sampler, req) -> tuple[float, int]:
    _sync(sampler.device)
    t = time.perf_counter()
    cands = sampler.generate(req)
    _sync(sampler.device)
    return time.perf_counter() - t, sum(c.nbytes for c in cands)


def _first_request_child(model_dir: str, mode: str) -> dict:
    """In a fresh process (TRITON_CACHE_DIR set by the parent): load the engine and serve one request,
    the editor's usual one (a 4 KB document, 3 candidates of 200 bytes). mode "product" or "baseline"."""
    from engine.kernels.select import use_fused_step

    t0 = time.perf_counter()
    engine = load_engine(model_dir, device="cuda", warm_up=mode == "product")
    if mode == "baseline":  # today's path: eager reference steps, 1 KB prefill segments
        from engine.generate import SEGMENT

        use_fused_step(engine.model, "torch")
        engine.sampler.segment = SEGMENT
    load_s = time.perf_counter() - t0
    req = GenerationRequest(_product_prompt(4096), stop=[], n=3, max_bytes=200, seed=0)
    sec, _ = _time_generate(engine.sampler, req)
    return {"load_s": load_s, "first_request_s": sec}


def _first_request(model_dir: str, mode: str, cache_dir: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, TRITON_CACHE_DIR=cache_dir, TRITON_CACHE_AUTOTUNING="1")
    code = ("import json, sys; from engine.bench import _first_request_child as f; "
            "print('RESULT ' + json.dumps(f(sys.argv[1], sys.argv[2])))")
    proc = subprocess.run([sys.executable, "-c", code, str(model_dir), mode], env=env, capture_output=True,
                          text=True, timeout=400)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(line[len("RESULT "):])


def run_product_bench(model_dir: str, device: str | None = None, backend: str = "auto",
                      first_request: bool = True, doc_bytes: int = 65536, new_bytes: int = 256) -> dict:
    """The done-means figures of the writing path, each beside its baseline (today's path: eager steps with
    the reference arithmetic, host sampling, 1 KB prefill segments) in the same run: batch-1 µs per byte,
    3-candidate aggregate bytes/s, first request after load (fresh process, cold and warm Triton cache),
    64 KB prefill MB/s, and a long-document request (64 KB, 3 × 200 bytes, nothing cached)."""
    import tempfile

    from engine.generate import SEGMENT, PrefixCache, Sampler
    from engine.kernels.select import use_fused_step

    t0 = time.perf_counter()
    engine = load_engine(model_dir, backend=backend, device=device)
    load_s = time.perf_counter() - t0
    product = engine.sampler
    baseline = Sampler(engine.model, PrefixCache(), segment=SEGMENT)  # graphs None: the eager path
    fused = any(getattr(m, "step_impl", None) for m in engine.model.modules())

    def as_baseline(on: bool) -> None:
        use_fused_step(engine.model, "torch" if on or not fused else "triton")

    short = _product_prompt(1024)
    report = {"model": engine.info().summary(), "device": str(product.device), "load_s": load_s,
              "decode_path": product.decode_path(3), "fused_step": fused, "figures": {}}
    figs = report["figures"]

    def side_by_side(name, unit, mine, base, better="higher"):
        figs[name] = {"unit": unit, "product": mine, "baseline": base,
                      "speedup": (mine / base if better == "higher" else base / mine) if mine and base else None}

    for n in (1, 3):
        rates = {}
        for who, sampler in (("product", product), ("baseline", baseline)):
            as_baseline(who == "baseline")
            sampler.prefill(short)
            req = GenerationRequest(short, stop=[], n=n, max_bytes=new_bytes, seed=0)
            _time_generate(sampler, GenerationRequest(short, stop=[], n=n, max_bytes=16, seed=0))  # warm
            sec, written = _time_generate(sampler, req)
            rates[who] = (sec, written)
        as_baseline(False)
        if n == 1:
            side_by_side("decode_b1_us_per_byte", "µs/B", rates["product"][0] / rates["product"][1] * 1e6,
                         rates["baseline"][0] / rates["baseline"][1] * 1e6, better="lower")
        else:
            side_by_side("decode_3_candidates_bytes_per_s", "B/s", rates["product"][1] / rates["product"][0],
                         rates["baseline"][1] / rates["baseline"][0])

    doc = _product_prompt(doc_bytes)
    pre = {}
    for who, sampler in (("product", product), ("baseline", baseline)):
        as_baseline(who == "baseline")
        best = None
        for _ in range(3):
            sampler.cache.clear()
            _sync(product.device)
            t = time.perf_counter()
            sampler.prefill(doc)
            _sync(product.device)
            best = min(best or 1e9, time.perf_counter() - t)
        pre[who] = best
    as_baseline(False)
    side_by_side("prefill_64k_MB_per_s", "MB/s", len(doc) / pre["product"] / 1e6, len(doc) / pre["baseline"] / 1e6)

    longreq = {}
    for who, sampler in (("product", product), ("baseline", baseline)):
        as_baseline(who == "baseline")
        sampler.cache.clear()
        longreq[who], _ = _time_generate(sampler, GenerationRequest(doc, stop=[], n=3, max_bytes=200, seed=0))
    as_baseline(False)
    side_by_side("long_document_request_s", "s", longreq["product"], longreq["baseline"], better="lower")

    graphs = product.decoder.graphs if product.decoder is not None else None
    if graphs is not None and graphs.captured:  # the graph alone, without the host's per-block work
        for n in (1, 3, 64, 256):
            b = graphs.size_for(n)
            graphs.run(b, 8)
            _sync(product.device)
            t = time.perf_counter()
            for _ in range(16):
                graphs.run(b, 8)
            _sync(product.device)
            report[f"graph_step_us_b{b}"] = (time.perf_counter() - t) / 128 * 1e6

    if first_request and product.device.type == "cuda":
        cold, base_cold = tempfile.mkdtemp(prefix="scriba-triton-"), tempfile.mkdtemp(prefix="scriba-triton-")
        mine_cold = _first_request(model_dir, "product", cold)
        mine_warm = _first_request(model_dir, "product", cold)
        base_c = _first_request(model_dir, "baseline", base_cold)
        base_w = _first_request(model_dir, "baseline", base_cold)
        report["first_request_runs"] = {"product_cold": mine_cold, "product_warm": mine_warm,
                                        "baseline_cold": base_c, "baseline_warm": base_w}
        for tag, mine, base in (("cold", mine_cold, base_c), ("warm", mine_warm, base_w)):
            side_by_side(f"first_request_{tag}_cache_s", "s", mine.get("first_request_s"),
                         base.get("first_request_s"), better="lower")
            side_by_side(f"load_plus_first_request_{tag}_cache_s", "s",
                         mine.get("load_s", 0) + mine.get("first_request_s", 0) if "error" not in mine else None,
                         base.get("load_s", 0) + base.get("first_request_s", 0) if "error" not in base else None,
                         better="lower")
    return report


def format_product_report(r: dict) -> str:
    lines = [f"{r['model']} · decoding: {r['decode_path']} · fused step: {r['fused_step']} · "
             f"loaded and warmed up in {r['load_s']:.1f} s"]
    lines.append(f"{'figure':<40}{'product':>12}{'baseline':>12}{'speedup':>9}")
    for name, f in r["figures"].items():
        def show(v):
            return "-" if v is None else f"{v:,.3f}" if v < 10 else f"{v:,.0f}"
        sp = "-" if f["speedup"] is None else f"{f['speedup']:.1f}x"
        lines.append(f"{name + ' (' + f['unit'] + ')':<40}{show(f['product']):>12}{show(f['baseline']):>12}{sp:>9}")
    for k, v in r.items():
        if k.startswith("graph_step_us"):
            lines.append(f"{k}: {v:,.1f}")
    for k, v in r.get("first_request_runs", {}).items():
        if "error" in v:
            lines.append(f"first request, {k}: failed: {v['error']}")
    return "\n".join(lines)
