"""The KoT5 input text, exactly as the model was trained (docs/architecture.md, "The story input")."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from shared.vocabulary import OPTIONAL_HINTS, REQUIRED_HINTS

# Fixed order: the token ids of a saved tokenizer depend on it.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<caption>",
    "<name>",
    "<i_action>",
    "<classification>",
    "<character>",
    "<setting>",
    "<action>",
    "<feeling>",
    "<causalRelationship>",
    "<outcomeResolution>",
    "<prediction>",
    "<empty>",
)
# The caption leads the required pieces; the hints follow in the vocabulary's order.
REQUIRED_FIELDS: tuple[str, ...] = ("caption", *REQUIRED_HINTS)
OPTIONAL_FIELDS: tuple[str, ...] = OPTIONAL_HINTS
PREFIX = "generate: "


class MissingField(ValueError):
    """A required field was missing or blank."""

    def __init__(self, field: str):
        super().__init__(f"'{field}' 필드는 비워둘 수 없습니다 (the {field} field is required)")
        self.field = field


def seed_for(seed_key: str) -> int:
    """The per-row shuffle seed: md5 of the key, modulo 10**8."""
    return int(hashlib.md5(seed_key.encode("utf-8")).hexdigest(), 16) % 10**8


def service_seed_key(caption: str, name: str, i_action: str) -> str:
    """The service's seed key: caption + name + i_action."""
    return caption + name + i_action


def build_input_text(fields: Mapping[str, object], seed_key: str) -> str:
    """Build "generate: <caption> ... <prediction> ..." with the training-time shuffle."""
    pieces: list[str] = []
    for field in REQUIRED_FIELDS:
        value = fields.get(field)
        if value is None or not str(value).strip():
            raise MissingField(field)
        pieces.append(f"<{field}> {str(value).strip()}")
    for field in OPTIONAL_FIELDS:
        value = fields.get(field)
        items = [item.strip() for item in str(value).split(",")] if value is not None else []
        items = [item for item in items if item]
        if items:
            pieces.extend(f"<{field}> {item}" for item in items)
        else:
            pieces.append(f"<{field}> <empty>")
    random.Random(seed_for(seed_key)).shuffle(pieces)
    return PREFIX + " ".join(pieces)
