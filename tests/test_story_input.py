"""build_input_text follows the training-time rules (docs/architecture.md, "The story input")."""
from __future__ import annotations

import hashlib
import random

import pytest

from shared.story_input import (
    OPTIONAL_FIELDS,
    SPECIAL_TOKENS,
    MissingField,
    build_input_text,
    seed_for,
    service_seed_key,
)

FIELDS = {"caption": " 숲 속의 나비 ", "name": "나비", "i_action": "날아다니다", "classification": "자연탐구",
          "setting": "숲, 꽃밭 ,", "feeling": "", "character": None}


def _expected(fields: dict, seed_key: str) -> str:
    pieces = [f"<{f}> {str(fields[f]).strip()}" for f in ("caption", "name", "i_action", "classification")]
    for field in OPTIONAL_FIELDS:
        items = [i.strip() for i in str(fields.get(field) or "").split(",") if i.strip()]
        pieces += [f"<{field}> {i}" for i in items] or [f"<{field}> <empty>"]
    random.Random(int(hashlib.md5(seed_key.encode()).hexdigest(), 16) % 10**8).shuffle(pieces)
    return "generate: " + " ".join(pieces)


def test_special_tokens_fixed_order():
    assert SPECIAL_TOKENS == (
        "<caption>", "<name>", "<i_action>", "<classification>", "<character>", "<setting>", "<action>",
        "<feeling>", "<causalRelationship>", "<outcomeResolution>", "<prediction>", "<empty>",
    )


def test_matches_the_rules_exactly():
    key = service_seed_key("숲 속의 나비", "나비", "날아다니다")
    assert build_input_text(FIELDS, key) == _expected(FIELDS, key)


def test_pieces_prefix_items_and_empty():
    text = build_input_text(FIELDS, "row-1")
    assert text.startswith("generate: ")
    pieces = text.removeprefix("generate: ")
    assert "<caption> 숲 속의 나비" in pieces
    assert "<setting> 숲" in pieces and "<setting> 꽃밭" in pieces
    assert "<feeling> <empty>" in pieces and "<character> <empty>" in pieces
    # 4 required + 2 setting items + 6 other optional fields with <empty>
    assert sum(pieces.count(token) for token in SPECIAL_TOKENS[:-1]) == 12


def test_same_key_same_order_other_key_other_order():
    assert build_input_text(FIELDS, "a") == build_input_text(FIELDS, "a")
    orders = {build_input_text(FIELDS, str(k)) for k in range(10)}
    assert len(orders) > 1


def test_seed_is_md5_mod_1e8():
    assert seed_for("abc") == int("900150983cd24fb0d6963f7d28e17f72", 16) % 10**8
    assert service_seed_key("c", "n", "a") == "cna"


@pytest.mark.parametrize("field", ["caption", "name", "i_action", "classification"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_required_field_is_an_error(field, value):
    fields = {**FIELDS, field: value}
    with pytest.raises(MissingField) as error:
        build_input_text(fields, "k")
    assert error.value.field == field
