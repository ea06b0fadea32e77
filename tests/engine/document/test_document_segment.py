"""Sentence segmentation: sentencex plus the repair rules in engine/document/segment.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.document import Document, split_sentences

CASES = {
    "abbreviations": ("He met Dr. Smith at 5 p.m. in the U.S. yesterday. Then he left.",
                      ["He met Dr. Smith at 5 p.m. in the U.S. yesterday.", "Then he left."]),
    "e.g. and i.e.": ("Use a tool, e.g. a hammer, i.e. something heavy. It works.",
                      ["Use a tool, e.g. a hammer, i.e. something heavy.", "It works."]),
    "decimals": ("Pi is about 3.14 and e is 2.718. Version 3.11.2 is out.",
                 ["Pi is about 3.14 and e is 2.718.", "Version 3.11.2 is out."]),
    "U.S. at sentence end": ("I live in the U.S. It is big.", ["I live in the U.S.", "It is big."]),
    "ellipsis inside": ("Hmm... I think so. Wait… what happened? Nothing.",
                        ["Hmm... I think so.", "Wait… what happened?", "Nothing."]),
    "quote inside sentence": ('He said "Stop. Now." and left.', ['He said "Stop. Now." and left.']),
    "closing quote then lowercase": ('"What?" he asked. "Nothing."', ['"What?" he asked.', '"Nothing."']),
    "curly quotes": ("“Stop,” he said. “Now.” She went.", ["“Stop,” he said.", "“Now.”", "She went."]),
    "rule 4 lowercase": ("The approx. value is 5. Ok.", ["The approx. value is 5.", "Ok."]),
    "rule 5 references": ("See Fig. 3 and Eq. 2 for details. Also vol. 2, no. 3.",
                          ["See Fig. 3 and Eq. 2 for details.", "Also vol. 2, no. 3."]),
    "rule 5 titles": ("Mt. Everest is high. Gen. Lee lost.", ["Mt. Everest is high.", "Gen. Lee lost."]),
    "rule 5 initials": ("B. F. Skinner wrote it. He was sure.", ["B. F. Skinner wrote it.", "He was sure."]),
    "et al.": ("Smith et al. (2019) found it. Yes.", ["Smith et al. (2019) found it.", "Yes."]),
    "rule 1 code and links": ("Call `os.path.join`. Then `x. Y` is done. See [a. B](http://x.com/a. B). Ok.",
                              ["Call `os.path.join`.", "Then `x. Y` is done.", "See [a. B](http://x.com/a. B).",
                               "Ok."]),
    "emphasis": ("It was *great.* Then not.", ["It was *great.*", "Then not."]),
    "soft line breaks": ("First line\nsecond line. Next\nsentence.", ["First line\nsecond line.", "Next\nsentence."]),
    "question and exclamation": ("Really?! Yes. No!", ["Really?!", "Yes.", "No!"]),
    "no punctuation": ("just some words", ["just some words"]),
}


@pytest.mark.parametrize("name", CASES)
def test_tricky_cases(name):
    text, expected = CASES[name]
    pieces = split_sentences(text)
    assert [s for s, _ in pieces] == expected
    assert "".join(s + gap for s, gap in pieces) == text


def test_whitespace_goes_to_the_gap():
    assert split_sentences("One two.  Three four.\n") == [("One two.", "  "), ("Three four.", "\n")]
    assert split_sentences("The end.\n\n") == [("The end.", "\n\n")]
    assert split_sentences("  Indented. Para.") == [("  Indented.", " "), ("Para.", "")]
    assert split_sentences("\u2028") == [("\u2028", "")]  # all-space text is still one sentence
    assert split_sentences("") == []


def test_unicode_spaces_do_not_crash_sentencex():
    # sentencex 1.0.32 panics on "Z\u00a0." (a capital, a multi-byte space, a period); we feed it ASCII
    for space in ("\u00a0", "\u2028", "\u3000", "\u2009"):
        text = f"It is Z{space}. Then{space}more. Done."
        assert "".join(s + g for s, g in split_sentences(text)) == text


def test_paragraph_sentences_reproduce_it_exactly():
    text = "One line\nwith a break. And Dr. Who, e.g. the U.S. one... fine.  Last one?"
    doc = Document.from_markdown(text + "\n")
    para = doc.root.children[0]
    assert para.text == text
    md = doc.to_markdown()
    for s in para.children:
        start, end = doc.span(s.id)
        assert md[start:end] == s.text and s.text == s.text.strip()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("aZ .?!\"'“”…()`[]\n\t") + ["e.g.", "Dr.", "U.S.", "3.5", "\u00a0"]),
                max_size=40).map("".join))
def test_pieces_always_concatenate_to_the_input(text):
    pieces = split_sentences(text)
    assert "".join(s + gap for s, gap in pieces) == text
    assert all(s for s, _ in pieces)
    assert all(not gap or gap.isspace() for _, gap in pieces)
