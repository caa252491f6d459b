"""`talesrunner make-tiny-models DIR`: small random-weight models with the real architectures.

They let the service, the tests and CI run the very code a deployment runs (from_pretrained on
a directory, the real processor and tokenizer classes, batched generate) without downloading
weights. Everything is built offline: the tokenizers are trained here on the small Korean and
English texts shipped in `worker/ml/data/`.

    DIR/blip        BlipForConditionalGeneration + BlipProcessor (BlipImageProcessor, BertTokenizerFast)
    DIR/kot5        T5ForConditionalGeneration + T5TokenizerFast with the 12 special tokens (docs/architecture.md, "The story input")
    DIR/translator  MarianMTModel + MarianTokenizer (sentencepiece), English -> Korean
    DIR/vits        VitsModel + VitsTokenizer (MMS text-to-speech: uroman-Latin characters), 16 kHz
    DIR/illustrator StableDiffusionImg2ImgPipeline (tiny UNet, VAE and CLIP text encoder; worker/illustration/tiny.py)
    DIR/whisper     WhisperForConditionalGeneration + WhisperProcessor (worker/transcription/tiny.py)

Their words are random, but never empty: each text model saves a generation config with a minimum
length and with the special tokens suppressed. The VITS voice is noise shaped like speech.
"""
from __future__ import annotations

import io
import json
import string
import tempfile
from pathlib import Path
from typing import Any

from shared.story_input import SPECIAL_TOKENS
from worker.ml.loading import TEST_MODEL_KEY

DATA = Path(__file__).resolve().parent / "data"
KOREAN_TEXT = DATA / "tiny_corpus_ko.txt"
ENGLISH_TEXT = DATA / "tiny_corpus_en.txt"
SEED = 20250215  # the weights are random but the same on every run
MIN_NEW_TOKENS = 4
# Written into every tiny model's config (loading.TEST_MODEL_KEY), so books made with them say so.
TEST_MODEL_NOTE = "random weights from talesrunner make-tiny-models"


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _alphabet() -> list[str]:
    """Printable ASCII and the 2,350 common Hangul syllables (KS X 1001), so that hints and
    captions outside the small training text still tokenize to pieces rather than <unk>."""
    hangul = [bytes([lead, trail]).decode("euc-kr") for lead in range(0xB0, 0xC9) for trail in range(0xA1, 0xFF)]
    return [chr(c) for c in range(33, 127)] + hangul


def korean_t5_tokenizer(vocab_size: int = 4000, pad_vocab_to: int | None = None, markers: bool = True) -> Any:
    """A T5TokenizerFast trained on the shipped Korean text, with pad 0, eos 1, unk 2 as in T5 and the
    12 special tokens added after the vocabulary in SPEC order.

    The pieces come from sentencepiece's Unigram trainer (deterministic, unlike the `tokenizers`
    trainer, so every run writes the same model) and are loaded into a `tokenizers` Unigram with
    sentencepiece-style spaces, as KoT5's own tokenizer.json is. `pad_vocab_to` fills the vocabulary
    with never-used pieces up to a size (32100 gives KoT5-base's 32100 + 12 = 32112 ids), for
    full-size random models in the benchmark. `markers=False` leaves the 12 special tokens out, as a
    base model before fine-tuning has them (the training tests add them the way training does).
    """
    import sentencepiece as spm
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    trained = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_lines(KOREAN_TEXT)), model_writer=trained, vocab_size=vocab_size,
        model_type="unigram", hard_vocab_limit=False, character_coverage=1.0, required_chars="".join(_alphabet()),
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_proto=trained.getvalue())
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    if pad_vocab_to:
        pieces += [(f"<unused_{i}>", -100.0) for i in range(pad_vocab_to - len(pieces))]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.add_special_tokens(["<pad>", "</s>", "<unk>"])
    # Like T5, every input ends with </s>.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = T5TokenizerFast(tokenizer_object=tokenizer, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0)
    if markers:
        fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    return fast


def _english_wordpiece_vocab() -> list[str]:
    """A BERT WordPiece vocabulary: every word of the shipped English text whole, and every
    character alone and as a ## continuation, so any other word still splits into pieces."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = sorted({word for line in _lines(ENGLISH_TEXT) for word in line.lower().split()} - set(chars))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars] + words


def _generation_config(tokenizer: Any, **ids: int) -> Any:
    from transformers import GenerationConfig

    # Random weights may put an end-of-text or a special token first; a minimum length and
    # suppressed special tokens keep the output visible text, as a trained model's would be.
    hidden = sorted(set(tokenizer.all_special_ids) - {ids.get("eos_token_id"), ids.get("decoder_start_token_id")})
    return GenerationConfig(min_new_tokens=MIN_NEW_TOKENS, suppress_tokens=hidden, **ids)


def blip_processor(image_size: int = 32, pad_vocab_to: int | None = None) -> Any:
    """A BlipProcessor: BlipImageProcessor at `image_size` and a BERT WordPiece tokenizer trained on the
    shipped English text. `pad_vocab_to` fills the vocabulary with [unused] entries (30522 gives
    blip-image-captioning-base's 30524 ids once [DEC] and [ENC] are added)."""
    from transformers import BertTokenizerFast, BlipImageProcessor, BlipProcessor

    vocab = _english_wordpiece_vocab()
    if pad_vocab_to:
        vocab += [f"[unused{i}]" for i in range(pad_vocab_to - len(vocab))]
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    # As in Salesforce/blip-image-captioning-base: [DEC] starts a caption, [SEP] ends it.
    tokenizer.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def make_tiny_blip(directory: Path) -> Path:
    """BLIP captioning model with a 32 px vision tower and a BERT WordPiece tokenizer."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    processor = blip_processor(image_size=32)
    tokenizer = processor.tokenizer
    config = BlipConfig(
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": 32, "patch_size": 8,
        },
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.sep_token_id,
            "sep_token_id": tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id,
        },
        projection_dim=32,
    )
    setattr(config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    torch.manual_seed(SEED)
    model = BlipForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(
        tokenizer, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


TINY_T5_SHAPE: dict[str, Any] = {"d_model": 64, "d_ff": 128, "d_kv": 16, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4}


def make_tiny_kot5(directory: Path, shape: dict[str, Any] | None = None) -> Path:
    """KoT5-shaped T5 (relu feed-forward, pad 0, eos 1, decoder start 0) with a Korean tokenizer.

    `shape` overrides T5Config sizes (the training tests use an even smaller one that learns in seconds).
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = korean_t5_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer), feed_forward_proj="relu", pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
        **{**TINY_T5_SHAPE, **(shape or {})},
    )
    setattr(config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    torch.manual_seed(SEED)
    model = T5ForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(
        tokenizer, decoder_start_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _train_sentencepiece(lines: list[str], path: Path, vocab_size: int) -> Path:
    import sentencepiece as spm

    trained = io.BytesIO()  # not a model_prefix: the proto would record the scratch path and differ per run
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=trained, vocab_size=vocab_size, model_type="unigram",
        hard_vocab_limit=False, character_coverage=1.0, pad_id=-1, bos_id=-1, eos_id=1, unk_id=0, num_threads=1,
        minloglevel=2,
    )
    path.write_bytes(trained.getvalue())
    return path


def make_tiny_translator(directory: Path) -> Path:
    """MarianMT English -> Korean with sentencepiece source/target models, like Helsinki-NLP/opus-mt."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        source = _train_sentencepiece(_lines(ENGLISH_TEXT), scratch_dir / "source.spm", 400)
        target = _train_sentencepiece(_lines(KOREAN_TEXT), scratch_dir / "target.spm", 800)
        # One shared vocabulary, as opus-mt models have: </s> 0, <unk> 1, the pieces, <pad> last.
        pieces: list[str] = ["</s>", "<unk>"]
        for model_file in (source, target):
            processor = spm.SentencePieceProcessor(model_file=str(model_file))
            for piece_id in range(processor.get_piece_size()):
                piece = processor.id_to_piece(piece_id)
                if piece not in pieces and not processor.is_control(piece_id) and not processor.is_unknown(piece_id):
                    pieces.append(piece)
        pieces.append("<pad>")
        vocab_file = scratch_dir / "vocab.json"
        vocab_file.write_text(json.dumps({piece: i for i, piece in enumerate(pieces)}, ensure_ascii=False), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(source), target_spm=str(target), vocab=str(vocab_file), source_lang="en", target_lang="ko"
        )
        tokenizer.save_pretrained(directory)

    pad = tokenizer.pad_token_id
    config = MarianConfig(
        vocab_size=len(pieces), decoder_vocab_size=len(pieces), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=128, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=pad, forced_eos_token_id=tokenizer.eos_token_id,
    )
    setattr(config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    torch.manual_seed(SEED)
    model = MarianMTModel(config).eval()
    model.generation_config = _generation_config(
        tokenizer, decoder_start_token_id=pad, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad
    )
    model.save_pretrained(directory)
    return directory


def make_tiny_models(directory: str | Path) -> list[Path]:
    """Write DIR/blip, DIR/kot5, DIR/translator, DIR/vits, DIR/illustrator and DIR/whisper; returns their paths."""
    # The drawing pipeline's maker uses this module's seed and test-model mark: imported here, not above.
    from worker.illustration.tiny import make_tiny_illustrator
    from worker.transcription.tiny import make_tiny_whisper

    root = Path(directory).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return [
        make_tiny_blip(root / "blip"),
        make_tiny_kot5(root / "kot5"),
        make_tiny_translator(root / "translator"),
        make_tiny_vits(root / "vits"),
        make_tiny_illustrator(root / "illustrator"),
        make_tiny_whisper(root / "whisper"),
    ]


# MMS text-to-speech reads romanised text (uroman), lower case, letters and a few marks; id 0 is the
# blank the tokenizer puts between characters.
VITS_VOCAB = ["<pad>", " ", "'", "-", *string.ascii_lowercase]
TINY_VITS_SHAPE: dict[str, Any] = {
    "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "ffn_dim": 32, "flow_size": 16,
    "spectrogram_bins": 33, "upsample_initial_channel": 32, "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
    "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]], "depth_separable_num_layers": 2,
    "duration_predictor_filter_channels": 16, "duration_predictor_num_flows": 2, "prior_encoder_num_flows": 2,
    "prior_encoder_num_wavenet_layers": 2, "posterior_encoder_num_wavenet_layers": 2,
}


def vits_tokenizer(vocab: list[str] | None = None) -> Any:
    """A VitsTokenizer as MMS saves them: characters, blanks between them, lower-cased, is_uroman set."""
    from transformers import VitsTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.json"
        vocab_file.write_text(json.dumps({c: i for i, c in enumerate(vocab or VITS_VOCAB)}), encoding="utf-8")
        return VitsTokenizer(vocab_file=str(vocab_file), pad_token="<pad>", unk_token="<pad>", language="kor",
                             add_blank=True, normalize=True, phonemize=False, is_uroman=True)


def make_tiny_vits(directory: Path, shape: dict[str, Any] | None = None) -> Path:
    """VitsModel (MMS text-to-speech architecture) at 16 kHz with a uroman-Latin character tokenizer.

    `shape` overrides VitsConfig sizes; `{}` with every default removed gives MMS's own shapes.
    """
    import torch
    from transformers import VitsConfig, VitsModel

    tokenizer = vits_tokenizer()
    config = VitsConfig(vocab_size=len(tokenizer), sampling_rate=16000, **(TINY_VITS_SHAPE if shape is None else shape))
    setattr(config, TEST_MODEL_KEY, TEST_MODEL_NOTE)
    torch.manual_seed(SEED)
    model = VitsModel(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
