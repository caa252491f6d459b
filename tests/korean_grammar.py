"""A Korean picture-book grammar check over paragraphs, with kiwipiepy (the tests' editor).

Per sentence (Kiwi's sentence split):
- `unfinished`: the sentence does not end in a final ending (EF) — 늑대는 앉아 passes Kiwi as EF 어,
  so the ending must also be 해요체: a final ending on 요 after a stem or another ending;
- `register`: it ends in a final ending outside 해요체 (…다, …습니다, …어);
- `noun_end`: it ends on a bare noun (토끼는 마음이 배고픔);
- `comma_splice`: a final ending inside the sentence before its end (아팠어요, 슬펐어요);
- `name_repeat`: the protagonist (full or short name) named in this sentence and the one before;
- `photo`: a sentence about the photo (사진 속…, …보여요);
- `two_topics`: two topic markers (은/는) in one clause (이번에는 하은이는 …).
A refrain of one sound word said twice (깡충깡충, 깡충깡충!) is a picture book's, not an unfinished sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from worker.ml.kiwi import get_kiwi

_PUNCT = ("SF", "SP", "SS", "SE", "SO", "SW")
_NOUNS = ("NNG", "NNP", "NNB", "NR", "NP", "XSN", "SL", "SH", "SN", "ETN")


@dataclass
class Report:
    paragraphs: int = 0
    sentences: int = 0
    violations: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, sentence: str) -> None:
        self.violations.setdefault(kind, []).append(sentence)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.violations.values())

    def counts(self) -> dict[str, int]:
        return {kind: len(found) for kind, found in sorted(self.violations.items())}


def sentences(paragraph: str):
    return get_kiwi().split_into_sents(paragraph, return_tokens=True)


def check(paragraph: str, names: tuple[str, ...] = (), report: Report | None = None) -> Report:
    report = report or Report()
    report.paragraphs += 1
    previous_named = False
    for sentence in sentences(paragraph):
        text = sentence.text.strip()
        tokens = [t for t in sentence.tokens if t.tag not in _PUNCT]
        if not tokens:
            continue
        report.sentences += 1
        if re.fullmatch(r"(\S+), \1!", text):
            previous_named = False
            continue  # a refrain: 깡충깡충, 깡충깡충!
        topics, clause_topics = 0, []
        for token in tokens:
            if token.tag == "JX" and token.form in ("은", "는"):
                topics += 1
            if token.tag == "EC" or token.tag == "EF":
                clause_topics.append(topics)
                topics = 0
        if any(count >= 2 for count in clause_topics):
            report.add("two_topics", text)
        last = tokens[-1]
        if last.tag.startswith(_NOUNS):
            report.add("noun_end", text)
        elif last.tag != "EF":
            report.add("unfinished", text)
        elif not last.form.endswith(("요", "죠")) or (last.form == "요" and len(tokens) > 1 and tokens[-2].tag == "ETM"):
            report.add("register" if not last.form.endswith(("요", "죠")) else "unfinished", text)
        raw = list(sentence.tokens)
        # Kiwi reads 아팠어요, 슬펐어요 as 어요/EC + comma: a finished ending before a comma is a splice too.
        spliced = any(t.form.endswith("요") and t.tag in ("EF", "EC") and after.form == "," for t, after in zip(raw, raw[1:]))
        if spliced or any(t.tag == "EF" for t in tokens[:-1]):
            report.add("comma_splice", text)
        named = any(name in text for name in names)
        if named and previous_named:
            report.add("name_repeat", text)
        previous_named = named
        if "사진" in text or text.rstrip(".!?").endswith("보여요"):
            report.add("photo", text)
    return report
