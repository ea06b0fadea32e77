"""Sentence splitting follows the text's language: each paragraph's language is told from its scripts
and passed to sentencex; Japanese and Chinese (no space after a sentence) split too; the round trip
stays exact."""

from __future__ import annotations

import pytest

from engine.document import Document
from engine.document.segment import language, split_sentences


def sentences(text: str) -> list[str]:
    pairs = split_sentences(text)
    assert "".join(s + g for s, g in pairs) == text
    return [s for s, _ in pairs]


@pytest.mark.parametrize("text, lang", [
    ("The cat sat on the mat.", "en"),
    ("Le chat est sur le tapis. Il dort.", "en"),  # Latin script: English rules
    ("今日は晴れです。明日は雨でしょう。", "ja"),
    ("東京は大きい都市です。", "ja"),  # Han with kana
    ("今天天气很好。明天会下雨吗？", "zh"),
    ("안녕하세요. 잘 지내요?", "ko"),
    ("Привет, мир. Как дела?", "ru"),
    ("नमस्ते। आप कैसे हैं?", "hi"),
    ("See the word 東京 in an English sentence about Tokyo and its many wards.", "en"),
])
def test_language_from_the_script(text, lang):
    assert language(text) == lang


def test_japanese_splits_into_sentences():
    text = "今日は晴れです。明日は雨でしょう！本当ですか？「はい」と彼は言った。"
    assert sentences(text) == ["今日は晴れです。", "明日は雨でしょう！", "本当ですか？", "「はい」と彼は言った。"]


def test_chinese_splits_into_sentences():
    assert sentences("今天天气很好。明天会下雨吗？是的。") == ["今天天气很好。", "明天会下雨吗？", "是的。"]


def test_hindi_splits_at_the_danda():
    assert sentences("नमस्ते। आप कैसे हैं? ठीक।") == ["नमस्ते।", "आप कैसे हैं?", "ठीक।"]


def test_english_is_unchanged():
    assert sentences("Dr. Smith went to Washington. He arrived at 3 p.m. and left.") == [
        "Dr. Smith went to Washington.", "He arrived at 3 p.m. and left."]


def test_a_japanese_document_round_trips_with_sentences():
    md = "# 天気\n\n今日は晴れです。明日は雨でしょう。\n\n## 次\n\n本当ですか？はい。\n"
    doc = Document.from_markdown(md)
    assert doc.to_markdown() == md
    texts = [n.text for n in doc.walk() if n.kind.value == "sentence"]
    assert texts == ["今日は晴れです。", "明日は雨でしょう。", "本当ですか？", "はい。"]
