"""Whole-text perturbations a writer's documents really have (issue 12, point 5): case changes, dropped spaces,
typos, hard wrapping and CRLF line ends. Torch-free and deterministic: each maps a str to a new str
(so UTF-8 stays valid by construction); the random ones take a seeded random.Random.
`perturb` seeds the generator from (seed, perturbation, text key), so a text's version does not depend on
which other texts or perturbations run beside it."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from engine.augment import wrap_line

WORD = re.compile(r"[^\W\d_]{2,}")  # runs of two or more letters: where a typo can land


@dataclass(frozen=True)
class PerturbConfig:
    space_drop: float = 0.25 # share of the spaces removed
    typo_rate: float = 0.1  # share of the words (letter runs of 2+) given one typo
    wrap: int = 72  # hard-wrap column
    seed: int = 0


def lower(text: str) -> str:
    return text.lower()


def upper(text: str) -> str:
    return text.upper()


def drop_spaces(text: str, rng: random.Random, rate: float) -> str:
    """Remove round(rate * n) of the text's n space characters (U+0020), chosen at random."""
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    drop = set(rng.sample(spaces, round(rate * len(spaces))))
    return "".join(ch for i, ch in enumerate(text) if i not in drop)


def _typo(word: str, rng: random.Random) -> str:
    """One adjacent swap (of two different letters), dropped letter or doubled letter: never the same word."""
    swaps = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    kind = rng.choice(("swap", "drop", "duplicate") if swaps else ("drop", "duplicate"))
    if kind == "swap":
        i = rng.choice(swaps)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    i = rng.randrange(len(word))
    return word[:i] + word[i + 1:] if kind == "drop" else word[:i] + word[i] + word[i:]


def typos(text: str, rng: random.Random, rate: float) -> str:
    """Give round(rate * n) of the text's n words (letter runs of 2+) one typo each; other bytes untouched."""
    words = list(WORD.finditer(text))
    hit = sorted(rng.sample(range(len(words)), round(rate * len(words))))
    out, at = [], 0
    for k in hit:
        m = words[k]
        out += [text[at:m.start()], _typo(m.group(), rng)]
        at = m.end()
    return "".join(out + [text[at:]])


def hard_wrap(text: str, width: int = 72) -> str:
    """Every line longer than `width` characters broken at spaces, greedily (engine.augment.wrap_line, the
    training augmentation's wrapper): each break turns one space into a line end, so no other byte changes."""
    return "\n".join(wrap_line(line, width) for line in text.split("\n"))


def crlf(text: str) -> str:
    """Every line end as CR LF (lines already ending in CR LF are kept as they are)."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


NAMES = ("lower", "upper", "drop_spaces", "typos", "hard_wrap", "crlf")


def perturb(name: str, text: str, cfg: PerturbConfig, key: str = "") -> str:
    """The `name` perturbation of `text`, seeded by (cfg.seed, name, key): deterministic per text."""
    rng = random.Random(f"{cfg.seed}:{name}:{key}")
    if name == "lower":
        return lower(text)
    if name == "upper":
        return upper(text)
    if name == "drop_spaces":
        return drop_spaces(text, rng, cfg.space_drop)
    if name == "typos":
        return typos(text, rng, cfg.typo_rate)
    if name == "hard_wrap":
        return hard_wrap(text, width=cfg.wrap)
    if name == "crlf":
        return crlf(text)
    raise ValueError(f"unknown perturbation {name!r} (known: {', '.join(NAMES)})")


def describe(cfg: PerturbConfig) -> dict[str, str]:
    """One line per perturbation, with its parameters: the report's legend."""
    return dict(lower="every letter lower case", upper="every letter upper case",
                drop_spaces=f"{cfg.space_drop:.0%} of the spaces removed at random",
                typos=f"{cfg.typo_rate:.0%} of the words given one typo (adjacent swap, dropped or doubled letter)",
                hard_wrap=f"lines longer than {cfg.wrap} characters broken at a space",
                crlf="line ends as CR LF")
