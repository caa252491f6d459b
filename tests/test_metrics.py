"""The evaluation metrics on hand-made cases whose values are worked out by hand."""
from __future__ import annotations

import math

import pytest

from training import metrics

REFS = ["토끼가 숲에서 신나게 뛰어요", "다람쥐가 도토리를 모아요 겨울이 와요", "곰돌이는 꿀을 좋아해요 정말로"]


def test_words_are_whitespace_words_without_punctuation():
    assert metrics.words("“와, 정말 멋지다!” 토끼가 뛰어요.") == ["와", "정말", "멋지다", "토끼가", "뛰어요"]


def test_identical_predictions_score_the_top_of_every_scale():
    scores = metrics.score_all(REFS, REFS, metrics.BertScore("no-such-org/no-such-bert"))
    assert scores["bleu"].value == pytest.approx(100.0)
    assert scores["chrf"].value == pytest.approx(100.0)
    assert scores["rouge_l"].value == pytest.approx(1.0)
    # METEOR's fragmentation penalty never reaches 0: one chunk of n matches costs 0.5 / n**3.
    expected = sum(1 - 0.5 / len(ref.split()) ** 3 for ref in REFS) / len(REFS)
    assert scores["meteor"].value == pytest.approx(expected)
    # Every n-gram of each row is its own (idf log 3), cosine 1 for n = 1..4, times 10.
    assert scores["cider"].value == pytest.approx(10.0)


def test_unrelated_predictions_score_zero():
    predictions = ["하늘이 파랗다 바람", "자동차 기차 비행기 배", "연필 지우개 공책 가방"]
    scores = metrics.score_all(predictions, REFS, metrics.BertScore("no-such-org/no-such-bert"))
    for name in ("bleu", "rouge_l", "meteor", "cider"):
        assert scores[name].value == pytest.approx(0.0), name


def test_cider_d_on_a_case_worked_by_hand():
    # Two rows: 1-grams and 2-grams each occur in one reference, idf log 2. Row 2 is exact: (1 + 1 + 0 + 0) / 4 * 10
    # = 5. Row 1 shares one of two unigrams: cosine 0.5 at n = 1, nothing above: 0.5 / 4 * 10 = 1.25.
    assert metrics.cider(["가 다", "다 라"], ["가 나", "다 라"]).value == pytest.approx((1.25 + 5.0) / 2)
    assert metrics.cider(["가 나"], ["가 나"]).value is None


def test_cider_length_penalty_is_gaussian_in_the_word_count_difference():
    # Row 1 adds 마 (idf log 2 too): cosine 2/sqrt(6) at n = 1, 1/sqrt(2) at n = 2, nothing above; one word
    # longer than its reference: times exp(-1 / (2 * 6**2)). Row 2 is exact: 5.
    row1 = 10 * (2 / math.sqrt(6) + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72)
    assert metrics.cider(["가 나 마", "다 라"], ["가 나", "다 라"]).value == pytest.approx((row1 + 5.0) / 2)


def test_meteor_on_cases_worked_by_hand():
    # 2 of 2 hypothesis words match 2 of 3 reference words: P 1, R 2/3, Fmean = 10PR / (R + 9P) = 20/29;
    # two chunks of two matches: penalty 0.5 * (2/2)**3; score 20/29 * 0.5.
    assert metrics.meteor(["토끼가 뛰어요"], ["토끼가 숲에서 뛰어요"]).value == pytest.approx(20 / 29 * 0.5)
    # All four words match in a shuffled order: four chunks, penalty 0.5.
    assert metrics.meteor(["a c b d"], ["a b c d"]).value == pytest.approx(0.5)


def test_rouge_l_is_the_lcs_f_measure_over_korean_words():
    # LCS 토끼가 신나게 뛰어요 = 3 of 4 words each side: P = R = F = 0.75.
    assert metrics.rouge_l(["토끼가 신나게 놀아요 뛰어요"], ["토끼가 숲에서 신나게 뛰어요"]).value == pytest.approx(0.75)
    # P 2/2, R 2/4: F = 2 * 1 * 0.5 / 1.5.
    assert metrics.rouge_l(["토끼가 뛰어요"], ["토끼가 숲에서 신나게 뛰어요"]).value == pytest.approx(2 / 3)


def test_bleu_of_an_exact_prefix_is_the_brevity_penalty_alone():
    # Every n-gram precision is 1; 4 words against 6: 100 * exp(1 - 6/4).
    value = metrics.bleu(["토끼가 숲에서 신나게 뛰어요"], ["토끼가 숲에서 신나게 뛰어요 정말 좋아요"]).value
    assert value == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert metrics.chrf(["토끼가"], ["고양이"]).value == pytest.approx(0.0)


def test_bertscore_without_its_weights_is_null_with_a_reason():
    score = metrics.BertScore("no-such-org/no-such-bert")(["가"], ["가"])
    assert score.value is None and "no-such-org/no-such-bert" in score.not_computed


def test_spice_is_computed_only_with_its_java_dependencies():
    score = metrics.spice(["토끼가 뛰어요"], ["토끼가 뛰어요"])
    missing = metrics.spice_missing()
    if missing:
        assert score.value is None and score.not_computed == missing
    else:
        assert score.value is not None or "SPICE failed" in score.not_computed


@pytest.mark.models
def test_bertscore_with_a_local_bert_is_one_for_identical_text(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from worker.ml.tiny import _alphabet

    # Every character whole and as a ## continuation, so Korean words split into pieces rather than [UNK].
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _alphabet() + [f"##{c}" for c in _alphabet()]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=False).save_pretrained(tmp_path)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(tmp_path)
    scorer = metrics.BertScore(str(tmp_path))
    assert scorer(REFS, REFS).value == pytest.approx(1.0, abs=1e-5)
    assert scorer(list(reversed(REFS)), REFS).value < 0.9999
