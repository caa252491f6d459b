"""A tiny random-weight Whisper for `talesrunner make-tiny-models DIR` (DIR/whisper), built offline.

It has Whisper's real interface: WhisperForConditionalGeneration, a WhisperProcessor (the 80-bin
log-mel WhisperFeatureExtractor and a byte-level BPE WhisperTokenizerFast), the multilingual
vocabulary's exact layout (51,865 ids: 50,257 text pieces, <|endoftext|>, <|startoftranscript|>, the
99 language tokens, the task and no-timestamps tokens, 1,501 timestamps) and the generation config
that `generate(language="ko", task="transcribe")` reads. The layout matters beyond transformers:
CTranslate2 (faster-whisper) takes a Whisper as multilingual only with a vocabulary this size.

The text pieces are trained here on the shipped Korean and English text; the rest of the 50,257 are
Hangul syllables and syllable pairs, so a random model's words still read as Korean. The same
tokenizer at full size is what bench/transcription.py runs whisper-small's shapes with.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

TEXT_PIECES = 50_257  # Whisper's multilingual BPE: ids 0..50256; <|endoftext|> is 50257
TIMESTAMPS = 1_501  # <|0.00|> .. <|30.00|>
LANGUAGE_COUNT = 99  # large-v2 and earlier (v3 adds <|yue|>, 51,866 ids)
SAMPLE_RATE = 16_000
TINY_WHISPER_SHAPE: dict[str, Any] = {
    "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
}


def _special_tokens() -> tuple[list[str], list[str]]:
    """Whisper's special tokens in id order after <|endoftext|>, and the timestamp tokens after them."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    languages = [f"<|{code}|>" for code in list(LANGUAGES)[:LANGUAGE_COUNT]]
    special = ["<|endoftext|>", "<|startoftranscript|>", *languages, "<|translate|>", "<|transcribe|>",
               "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    return special, [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]


def _filler(taken: set[str]) -> itertools.chain:
    """Byte-level pieces that decode to Hangul: each common syllable, with a leading space, then pairs."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    from worker.ml.tiny import _alphabet

    byte_char = bytes_to_unicode()

    def piece(text: str) -> str:
        return "".join(byte_char[b] for b in text.encode("utf-8"))

    syllables = [c for c in _alphabet() if "가" <= c <= "힣"]
    words = itertools.chain(syllables, (" " + s for s in syllables), (a + b for a in syllables for b in syllables))
    return itertools.chain(p for p in map(piece, words) if p not in taken)


def whisper_tokenizer(trained_pieces: int = 1200) -> Any:
    """A WhisperTokenizerFast: byte-level BPE trained on the shipped text, padded to Whisper's layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, WhisperTokenizerFast

    from worker.ml.tiny import ENGLISH_TEXT, KOREAN_TEXT, _lines

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=trained_pieces, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_lines(KOREAN_TEXT) + _lines(ENGLISH_TEXT), trainer=trainer)
    vocab = dict(sorted(bpe.get_vocab().items(), key=lambda item: item[1]))
    merges = _merges(bpe)
    for piece in itertools.islice(_filler(set(vocab)), TEXT_PIECES - 1 - len(vocab)):
        vocab[piece] = len(vocab)
    # openai/whisper-*'s last text piece is the empty string; CTranslate2 (faster-whisper) takes a
    # Whisper as multilingual only when its vocabulary holds that token (measured on 4.8.5).
    vocab[""] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    fast = WhisperTokenizerFast(tokenizer_object=tokenizer, unk_token="<|endoftext|>", bos_token="<|endoftext|>",
                                eos_token="<|endoftext|>", pad_token="<|endoftext|>", add_prefix_space=False)
    special, timestamps = _special_tokens()
    fast.add_special_tokens({"additional_special_tokens": special[1:]})
    # As in openai/whisper-*: timestamps are added tokens but not special ones (decode may keep them).
    fast.add_tokens([AddedToken(t, lstrip=False, rstrip=False, normalized=False) for t in timestamps])
    assert len(fast) == TEXT_PIECES + len(special) + TIMESTAMPS, len(fast)
    return fast


def _merges(bpe: Any) -> list[tuple[str, str]]:
    """The trained merges, in rank order (read back from the model's own JSON)."""
    import json

    merges = json.loads(bpe.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def generation_config(tokenizer: Any, min_new_tokens: int = 0) -> Any:
    """What Whisper's generate reads: language and task tokens, timestamps, suppressed tokens."""
    from transformers import GenerationConfig

    special, timestamps = _special_tokens()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in special + timestamps[:1]}
    eos = ids["<|endoftext|>"]
    languages = {token: ids[token] for token in special[2 : 2 + LANGUAGE_COUNT]}
    config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
        is_multilingual=True, lang_to_id=languages,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        max_initial_timestamp_index=50, max_length=448, return_timestamps=False,
        begin_suppress_tokens=[tokenizer.convert_tokens_to_ids("Ġ"), eos],
        # Random weights would otherwise write the special tokens: each one after <|endoftext|> is
        # suppressed (decoding drops timestamps), so the words are text, as a trained model's are.
        # About as many ids as openai/whisper-small suppresses: each costs every decoding step.
        suppress_tokens=list(range(eos + 1, ids[timestamps[0]])),
    )
    if min_new_tokens:
        config.min_new_tokens = min_new_tokens
    return config


def make_tiny_whisper(directory: Path, shape: dict[str, Any] | None = None) -> Path:
    """WhisperForConditionalGeneration (80 mel bins, 30 s windows) + WhisperProcessor at `directory`."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperProcessor

    from worker.ml.loading import TEST_MODEL_KEY
    from worker.ml.tiny import MIN_NEW_TOKENS, SEED, TEST_MODEL_NOTE

    tokenizer = whisper_tokenizer()
    generation = generation_config(tokenizer, min_new_tokens=MIN_NEW_TOKENS)
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
        pad_token_id=generation.pad_token_id, bos_token_id=generation.bos_token_id,
        eos_token_id=generation.eos_token_id, decoder_start_token_id=generation.decoder_start_token_id,
        suppress_tokens=None, begin_suppress_tokens=None,  # the generation config holds them
        **{**TINY_WHISPER_SHAPE, **(shape or {})},
    )
    setattr(config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = generation
    model.save_pretrained(directory)
    features = WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, hop_length=160, chunk_length=30, n_fft=400)
    WhisperProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(directory)
    return directory
