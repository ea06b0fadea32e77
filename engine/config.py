"""Model configuration: one dataclass, saved as JSON next to the weights.

`layout` describes the network the way H-Net does, as nested lists:
  ["m8"]                           isotropic: 8 Mamba-2 layers on bytes (the baseline)
  ["m2", ["m6"], "m2"]             1-stage H-Net: encoder, main network on chunks, decoder
  ["m2", ["m2", ["m4"], "m2"], "m2"]  2-stage H-Net (the main network is itself an H-Net)
A layer string is a run of letter+count: "m" = Mamba-2 layer, "t" = causal attention layer, "f" = SwiGLU
feed-forward layer (e.g. "m3t1"; a Transformer is "t1f1" repeated). `d_model[i]` is the width at depth i
(bytes are depth 0).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT_VERSION = 1


@dataclass
class ModelConfig:
    name: str = "scriba-hnet"
    layout: list = field(default_factory=lambda: ["m2", ["m4"], "m2"])
    d_model: list[int] = field(default_factory=lambda: [256, 384])
    d_state: int = 64
    headdim: int = 32
    expand: int = 2
    d_conv: int = 4
    chunk_size: int = 64  # SSD scan chunk length (the Triton kernels use their own, see ssm/)
    n_attn_heads: int = 8
    target_ratio: list[float] = field(default_factory=lambda: [4.0])  # bytes per chunk, per stage
    ratio_loss_weight: float = 0.03
    lr_multiplier: list[float] = field(default_factory=lambda: [2.0, 1.0])  # per depth
    vocab_size: int = 256
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        depth = self.depth
        if len(self.d_model) != depth + 1:
            raise ValueError(f"layout has {depth} stage(s): d_model needs {depth + 1} widths, got {self.d_model}")
        if len(self.target_ratio) < depth:
            raise ValueError(f"target_ratio needs one value per stage ({depth}), got {self.target_ratio}")
        if len(self.lr_multiplier) < depth + 1:
            self.lr_multiplier = list(self.lr_multiplier) + [1.0] * (depth + 1 - len(self.lr_multiplier))
        for d in self.d_model:
            if (self.expand * d) % self.headdim:
                raise ValueError(f"expand*d_model ({self.expand * d}) must be a multiple of headdim ({self.headdim})")

    @property
    def depth(self) -> int:
        """Number of H-Net stages (0 = isotropic)."""
        depth, node = 0, self.layout
        while len(node) == 3:
            depth, node = depth + 1, node[1]
        if len(node) != 1:
            raise ValueError(f"bad layout {self.layout!r}: each level is [encoder, inner, decoder] or [main]")
        return depth

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(f"model format {version} is newer than this scriba understands ({FORMAT_VERSION})")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def parse_layers(spec: str) -> list[str]:
    """'m3t1' -> ['m', 'm', 'm', 't']."""
    out: list[str] = []
    for letter, count in re.findall(r"([a-z])(\d+)", spec):
        if letter not in "mtf":
            raise ValueError(f"unknown layer type {letter!r} in {spec!r} (m = Mamba-2, t = attention, f = SwiGLU)")
        out += [letter] * int(count)
    if "".join(f"{letter}{count}" for letter, count in re.findall(r"([a-z])(\d+)", spec)) != spec:
        raise ValueError(f"bad layer spec {spec!r}")
    return out


# The one table of model sizes: `preset(name)`, a run config's {"model": {"preset": name}}, `scriba train
# --preset` and `scriba bench --size` all read it.
PRESETS: dict[str, dict] = {
    # tests: fast on a laptop CPU
    "tiny": dict(name="tiny", layout=["m1", ["m1"], "m1"], d_model=[32, 48], d_state=16, headdim=16, chunk_size=16),
    "tiny-2stage": dict(name="tiny-2stage", layout=["m1", ["m1", ["m1"], "m1"], "m1"], d_model=[32, 48, 64],
                        d_state=16, headdim=16, chunk_size=16, target_ratio=[3.0, 2.0], lr_multiplier=[2.0, 1.5, 1.0]),
    "tiny-iso": dict(name="tiny-iso", layout=["m3"], d_model=[32], d_state=16, headdim=16, chunk_size=16,
                     target_ratio=[], lr_multiplier=[1.0]),
    "tiny-transformer": dict(name="tiny-transformer", layout=["t1f1t1f1"], d_model=[32], n_attn_heads=4,
                             target_ratio=[], lr_multiplier=[1.0]),
    # benchmarks (`scriba bench --size`): 1-stage H-Nets of about 8 M and 30 M parameters
    "small": dict(name="small", layout=["m2", ["m4"], "m2"], d_model=[256, 384], d_state=64, headdim=32, chunk_size=64),
    "30m": dict(name="30m", layout=["m2", ["m6"], "m2"], d_model=[512, 768], d_state=64, headdim=64, chunk_size=256),
}


def preset(name: str) -> ModelConfig:
    """The ModelConfig of the size called `name` in PRESETS (KeyError naming the known ones)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return ModelConfig(**PRESETS[name])
