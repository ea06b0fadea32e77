"""A byte-level BPE tokenizer (GPT-2's pre-tokenization: a space goes with the word after it), trained with
the `tokenizers` library, and the byte offsets where its tokens begin. Train it on training documents only:
scored on validation text, it has never seen that text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BPEConfig:
    vocab_size: int = 8192
    sample_bytes: int = 8 << 20  # training text, taken from shuffled training documents
    seed: int = 0


def training_sample(texts: list[str], cfg: BPEConfig) -> list[str]:
    """Texts in a seeded shuffled order until cfg.sample_bytes of UTF-8 are taken (the last one cut)."""
    import random

    order = list(range(len(texts)))
    random.Random(cfg.seed).shuffle(order)
    out, left = [], cfg.sample_bytes
    for i in order:
        if left <= 0:
            break
        data = texts[i].encode("utf-8")[:left]
        out.append(data.decode("utf-8", errors="ignore"))
        left -= len(data)
    return out


def train_bpe(texts: list[str], cfg: BPEConfig):
    """A tokenizers.Tokenizer: byte-level BPE with cfg.vocab_size entries, trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def char_to_byte_offsets(text: str) -> list[int]:
    """offsets[c] = the byte offset of character c in text's UTF-8 (and offsets[len(text)] = its length)."""
    out, b = [0], 0
    for ch in text:
        b += len(ch.encode("utf-8"))
        out.append(b)
    return out


def token_starts(tok, text: str) -> tuple[list[int], list[int]]:
    """(byte offsets where tokens begin, sorted and distinct; the token ids) of `text`. Tokens of one
    multi-byte character share its start."""
    enc = tok.encode(text)
    to_byte = char_to_byte_offsets(text)
    starts = sorted({to_byte[a] for a, b in enc.offsets if b > a})
    return starts, list(enc.ids)
