"""Sentence segmentation: sentencex, plus a few documented repair rules for Markdown prose.

`split_sentences(text)` returns `(sentence, gap)` pairs whose concatenation is exactly `text`: the
sentence never starts or ends with whitespace (except leading indentation of the first one) and the
gap is the whitespace after it (spaces, soft line breaks).

sentencex does the real work. It is already right about "e.g.", "i.e.", "Dr.", "U.S.", decimals and
"…" in most contexts; the rules below only *move* or *drop* its boundaries (never add one):

1. No boundary inside an inline code span, a link/image `[..](..)` or an autolink `<..>`: a period in
   `os.path` or in a URL is not a sentence end.
2. A boundary in the middle of a token (`What?|" he asked`) moves forward past closing quotes,
   brackets and emphasis markers to the following whitespace; if there is none it is dropped.
3. A boundary just after an opening quote/bracket (`… asked. "|Nothing."`) moves back before it, so
   the quote opens the next sentence.
4. A boundary is dropped when the next sentence starts with a lowercase letter ("approx. value",
   `"Stop," he said`, "etc. and so on"): English sentences start with a capital, a digit or a symbol.
5. A boundary is dropped after a title/reference abbreviation ("Fig.", "Eq.", "No.", "Mt.", "Gen.",
   "et al.", …) or a single capital initial ("B. F. Skinner") when the next word is capitalised, a
   number or a bracket.
6. Boundaries always sit on the first non-whitespace character of a sentence, so whitespace-only
   segments (sentencex emits "\n\n" after a final period) disappear into the previous gap.

sentencex is told the paragraph's language (`language(text)`: from the scripts of its first letters,
e.g. kana → Japanese, Hangul → Korean, Devanagari → Hindi; Latin and anything unknown → English). In
Chinese and Japanese a sentence ends at 。！？ with no space after it, so there rule 2 keeps a boundary
right after such a terminator (and its closing brackets 」』）).
"""

from __future__ import annotations

import re

from sentencex import segment

from .protect import inside, protected_spans

_CLOSERS = "\"'”’»)]}*_~」』）】〕〉》"
_CJK_ENDS = "。！？．!?」』）】〕〉》”’"  # a boundary right after these needs no space in Chinese and Japanese
_OPENERS = "\"'“‘«([{*_~"
_ABBREV = re.compile(
    r"(?<![^\s(\[“\"])(?:"  # at the start, or after a space or an opening bracket or quote
    r"Mr|Mrs|Ms|Dr|Prof|St|Mt|Ft|Gen|Capt|Col|Lt|Sgt|Cmdr|Adm|Gov|Sen|Rep|Rev|Hon|Pres|Supt"
    r"|vs|cf|al|ca|approx|Fig|Figs|fig|figs|Eq|Eqs|eq|No|Nos|no|Vol|vol|pp|p|Ch|ch|Sec|sec|Art|art"
    r"|[A-Z])\.[\"'”’)]*$"
)
_ABBREV_WINDOW = 64  # characters before a boundary that rule 5 looks at (the longest abbreviation is 6)
_WS = re.compile(r"\s+")
_NON_SPACE = re.compile(r"\S")
_FIRST_AFTER_OPENERS = re.compile(f"[{re.escape(_OPENERS)}]*+(.)", re.S)
_LONG = 16384  # characters: a paragraph up to this long goes to sentencex whole (0.03 s at worst)
_WINDOW = 8192  # characters of a longer paragraph whose boundaries one sentencex call decides
_CONTEXT = 1024  # characters of text it also sees before and after them
# (first code point, last code point, language) of the scripts that name a paragraph's language
_SCRIPTS = [
    (0x3040, 0x30FF, "ja"), (0x31F0, 0x31FF, "ja"), (0xFF66, 0xFF9F, "ja"),  # kana
    (0xAC00, 0xD7AF, "ko"), (0x1100, 0x11FF, "ko"), (0x3130, 0x318F, "ko"),  # Hangul
    (0x4E00, 0x9FFF, "zh"), (0x3400, 0x4DBF, "zh"),  # Han (Japanese when kana are there too)
    (0x0400, 0x04FF, "ru"), (0x0370, 0x03FF, "el"), (0x0590, 0x05FF, "he"), (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"), (0x0980, 0x09FF, "bn"), (0x0B80, 0x0BFF, "ta"), (0x0E00, 0x0E7F, "th"),
    (0x0530, 0x058F, "hy"), (0x10A0, 0x10FF, "ka"),
]
_SAMPLE = 400  # letters looked at to tell a paragraph's language
_NO_SPACES = {"ja", "zh"}
_ASCII_SPACES = str.maketrans({c: " " for c in map(chr, range(0x80, 0x3001)) if c.isspace()})


def language(text: str) -> str:
    """The language to segment `text` in, from the scripts of its first letters (ISO 639-1): the most
    frequent non-Latin script among them when it makes a fifth or more of them, else English. Han with
    kana is Japanese."""
    sample = text[:_SAMPLE * 4]
    if sample.isascii():
        return "en"
    counts: dict[str, int] = {}
    letters = 0
    for ch in sample:
        if not ch.isalpha():
            continue
        letters += 1
        code = ord(ch)
        if code >= 0x0370:
            for lo, hi, lang in _SCRIPTS:
                if lo <= code <= hi:
                    counts[lang] = counts.get(lang, 0) + 1
                    break
        if letters >= _SAMPLE:
            break
    if counts.get("ja") and counts.get("zh"):
        counts["ja"] += counts.pop("zh")
    if not counts:
        return "en"
    lang, n = max(counts.items(), key=lambda kv: kv[1])
    return lang if n * 5 >= letters else "en"


def split_sentences(text: str, lang: str | None = None) -> list[tuple[str, str]]:
    """Split paragraph text into (sentence, following whitespace) pairs that concatenate to `text`;
    in language `lang` (None: told by `language(text)`)."""
    if not text:
        return []
    lang = lang or language(text)
    cuts = _repair(text, _sentencex_cuts(text, lang), lang in _NO_SPACES)
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(text)]):
        piece = text[start:end]
        ws = len(piece.rstrip()) or len(piece)  # (str.isspace whitespace); all-space text stays text
        out.append((piece[:ws], piece[ws:]))
    return out


def _sentencex_cuts(text: str, lang: str = "en") -> list[int]:
    """sentencex's boundaries (str offsets). A paragraph longer than `_LONG` is handed to it in
    overlapping windows: sentencex looks for the partner of every unpaired “ « or `` to the end of
    its input, so its time grows with the square of the length (50 KB of "``a` " takes seconds).
    Each window keeps only the boundaries in its middle stretch, decided with `_CONTEXT` characters
    of text on either side (quotes are then paired within that reach only)."""
    if len(text) <= _LONG:
        return _sentencex_window(text, lang)
    cuts: list[int] = []
    for start in range(0, len(text), _WINDOW):
        lo = max(start - _CONTEXT, 0)
        window = text[lo:start + _WINDOW + _CONTEXT]
        cuts += [lo + c for c in _sentencex_window(window, lang) if start < lo + c <= start + _WINDOW]
    return [c for c in cuts if c < len(text)]


def _sentencex_window(text: str, lang: str = "en") -> list[int]:
    """sentencex on one stretch of text. sentencex 1.0.32 panics on a capital followed by a
    multi-byte space and a period ("Z\u00a0."), so non-ASCII spaces are handed to it as ASCII spaces
    (same length in characters, so the offsets still hold); any other failure means no boundaries."""
    cuts, pos = [], 0
    try:
        for seg in segment(lang, text.translate(_ASCII_SPACES)):
            pos += len(seg)
            cuts.append(pos)
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException(BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        return []
    if pos != len(text):  # sentencex promises exact concatenation; never trust it blindly
        return []
    return cuts[:-1]


def _repair(text: str, cuts: list[int], no_spaces: bool = False) -> list[int]:
    # Every step looks at a bounded stretch around the cut (no slicing to the end of the text, no
    # scan from the sentence start), so a paragraph of a megabyte is repaired in linear time.
    protected = protected_spans(text)
    starts = [start for start, _ in protected]
    out: list[int] = []
    for cut in cuts:
        cut = _place(text, cut, no_spaces)
        prev = out[-1] if out else 0
        if cut is None or cut <= prev or inside(cut, protected, starts) or not _NON_SPACE.search(text, prev, cut):
            continue
        if _continues(text, prev, cut):
            continue
        out.append(cut)
    return out


def _place(text: str, cut: int, no_spaces: bool = False) -> int | None:
    """Rules 2, 3 and 6: put the cut on the first non-space character of the next sentence
    (`no_spaces`: Chinese or Japanese, where none follows a sentence's end)."""
    n = len(text)
    back = cut
    while back > 0 and text[back - 1] in _OPENERS:  # rule 3
        back -= 1
    if back < cut and (back == 0 or text[back - 1].isspace()):
        cut = back
    elif 0 < cut < n and not text[cut - 1].isspace() and not text[cut].isspace():
        while cut < n and text[cut] in _CLOSERS:  # rule 2
            cut += 1
        if cut < n and not text[cut].isspace() and not (no_spaces and text[cut - 1] in _CJK_ENDS):
            return None
    m = _WS.match(text, cut)  # rule 6
    if m:
        cut = m.end()
    return cut if 0 < cut < n else None


def _continues(text: str, prev: int, cut: int) -> bool:
    """Rules 4 and 5: does the text from `cut` continue the sentence that starts at `prev`?"""
    m = _FIRST_AFTER_OPENERS.match(text, cut)
    first = m.group(1) if m else ""
    if first.islower():
        return True
    if not (first and (first.isupper() or first.isdigit() or first in "([")):
        return False
    end = cut
    while end > prev and text[end - 1].isspace():
        end -= 1
    # only the sentence's last characters: its start may be far back when earlier cuts were dropped
    return bool(_ABBREV.search(text, max(prev, end - _ABBREV_WINDOW), end))
