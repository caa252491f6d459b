"""Korean page text cut into the sentences a narrator reads one at a time.

A regular expression, not a morphological analyser: kiwipiepy takes 10-30 s to load in each
process, and a picture book's sentences end plainly in . ! ? or … (or a line break).
"""
from __future__ import annotations

import re

# One or more end marks, any closing quotes or brackets after them, then a space or the end of the
# line: "3.5" and "…하고…그리고" inside a word stay whole.
_END = re.compile(r"[.!?…]+[\"'”’」』)\]]*(?=\s|$)")


def split_sentences(text: str) -> list[str]:
    """The page's sentences in order, each with its end punctuation; empty lines give none.

    A piece with no letter or digit (a stray "!" or "……" on its own) is joined to the sentence
    before it, so every sentence has something to say.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for end in _END.finditer(line):
            _add(sentences, line[start : end.end()])
            start = end.end()
        _add(sentences, line[start:])
    return sentences


def _add(sentences: list[str], piece: str) -> None:
    piece = " ".join(piece.split())
    if not piece:
        return
    if sentences and not any(ch.isalnum() for ch in piece):
        sentences[-1] = f"{sentences[-1]} {piece}"
        return
    sentences.append(piece)
