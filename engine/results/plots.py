"""The report's figures (matplotlib, Agg backend, no timestamps in the files so a regeneration from the same
logs writes the same bytes). Torch-free; matplotlib is imported here only."""

from __future__ import annotations

from pathlib import Path

from engine.results.runs import Run

STYLE = {"hnet-1stage": "tab:blue", "mamba2-iso": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    fig.clf()
    return path


def _line(ax, run: Run, x: str, key: str = "all"):
    pts = [(getattr(e, x), e.val[key]) for e in run.evals if key in e.val]
    if pts:
        ax.plot(*zip(*pts), marker="o", ms=3, label=run.name, color=STYLE.get(run.meta.get("family")),
                linestyle="--" if run.meta.get("group") == "equal-flops" else "-")


def curves(runs: list[Run], out: Path) -> list[Path]:
    """val_vs_flops.png, val_vs_bytes.png: validation bits per byte ("all") of every run."""
    plt = _pyplot()
    paths = []
    for x, name, label in (("flops", "val_vs_flops.png", "training FLOPs"), ("bytes", "val_vs_bytes.png",
                                                                            "training bytes")):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for r in runs:
            _line(ax, r, x)
        ax.set_xscale("log")
        ax.set_xlabel(label + " (log)")
        ax.set_ylabel("validation bits per byte (each run's own set)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, out / name))
        plt.close(fig)
    return paths


def per_source(runs: list[Run], out: Path) -> Path | None:
    """per_source.png: one panel per corpus source, validation bits per byte against training FLOPs."""
    sources = sorted({k for r in runs for e in r.evals for k in e.val if k.startswith("source/")})
    if not sources:
        return None
    plt = _pyplot()
    cols = 4
    rows = (len(sources) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharex=True)
    for ax, key in zip(axes.flat, sources):
        for r in runs:
            _line(ax, r, "flops", key)
        ax.set_title(key.split("/", 1)[1], fontsize=9)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(sources):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.supxlabel("training FLOPs (log)", fontsize=9)
    fig.supylabel("validation bits per byte", fontsize=9)
    path = _save(fig, out / "per_source.png")
    plt.close(fig)
    return path


def boundaries(records: list[dict], out: Path) -> list[Path]:
    """boundaries.png (P/R/F1 of stage-0 chunk starts per reference) and entropy_peaks.png (peak precision
    against each reference beside its chance baselines), per text set."""
    agree = [r for r in records if r.get("kind") == "boundaries" and r.get("stage") == 0]
    peaks = [r for r in records if r.get("kind") == "entropy_peaks" and r.get("precision") is not None]
    if not agree:
        return []
    plt = _pyplot()
    paths = []
    sets = sorted({r["set"] for r in agree})
    fig, axes = plt.subplots(1, len(sets), figsize=(4.4 * len(sets), 3.4), squeeze=False)
    for ax, s in zip(axes.flat, sets):
        rows = [r for r in agree if r["set"] == s]
        for i, m in enumerate(("precision", "recall", "f1")):
            ax.bar([j + 0.27 * (i - 1) for j in range(len(rows))], [r[m] or 0 for r in rows], 0.27, label=m)
        ax.set_xticks(range(len(rows)), [r["reference"] for r in rows], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"H-Net chunk starts vs references ({s})", fontsize=9)
        ax.legend(fontsize=7)
    paths.append(_save(fig, out / "boundaries.png"))
    plt.close(fig)
    if peaks:
        fig, axes = plt.subplots(1, len(sets), figsize=(4.4 * len(sets), 3.4), squeeze=False)
        for ax, s in zip(axes.flat, sets):
            rows = [r for r in peaks if r["set"] == s]
            for i, (m, lab) in enumerate((("precision", "entropy peaks"), ("offset_mean", "peaks moved (chance)"),
                                          ("uniform", "uniform (chance)"))):
                ax.bar([j + 0.27 * (i - 1) for j in range(len(rows))], [r[m] for r in rows], 0.27, label=lab)
            ax.set_xticks(range(len(rows)), [r["reference"] for r in rows], fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of peaks on a boundary", fontsize=8)
            ax.set_title(f"next-byte entropy peaks ({s})", fontsize=9)
            ax.legend(fontsize=7)
        paths.append(_save(fig, out / "entropy_peaks.png"))
        plt.close(fig)
    return paths
