"""Validation of what users send, shared by the JSON API and the pages."""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from shared.mail_text import SENDER_MAX, SENDER_REFUSED, SENDER_RULE, sender_problem, without_bidi
from shared.safety import find_unsafe
from shared.styles import PHOTO
from shared.vocabulary import AgeBand, Classification

# Line breaks and tabs are text; every other control character (NUL first of all) is not, and the
# database refuses some of them: they are refused here, before it. The patterns are in the OpenAPI
# document too, so API clients (and schemathesis) know them. Lone surrogates never parse as text.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"  # one line: no line or paragraph separator either
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"[\t\n\r\u2028\u2029]")


def without_controls(value: str, *, lines: bool = False) -> str:
    """What a person typed into a page's field, less the characters nobody types (a pasted NUL).

    The pages take the text without them rather than refuse it for something the parent cannot
    see; a one-line field's breaks and tabs become spaces. The API refuses them (the patterns above).
    """
    if not lines:
        value = _BREAKS.sub(" ", value)
    return _CONTROLS.sub("", value)


def _line(**constraints) -> StringConstraints:
    return StringConstraints(pattern=LINE_PATTERN, **constraints)


def one_line_break(value: Any) -> Any:
    """CR LF (what a form sends for each line break) and a lone CR as LF, before any length is counted.

    A textarea's maxlength counts a line break as one character; without this, 2,000 characters
    over 20 lines would arrive as 2,019 and be refused.
    """
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


LineBreaks = BeforeValidator(one_line_break)

# Names and titles lose bidirectional controls (U+202E turns "cod.exe" around on screen and in a
# file name); nobody types them, so they are dropped, not refused.
NoBidi = BeforeValidator(lambda value: without_bidi(value) if isinstance(value, str) else value)

UNSAFE = "unsafe_text"


def child_safe(value: str) -> str:
    """Refuse words a children's book must not carry (shared/safety.py); the error names the field."""
    finding = find_unsafe(value)
    if finding is not None:
        raise PydanticCustomError(
            UNSAFE, "has words not suitable for a children's book ({category}: {term})",
            {"category": finding.category, "term": finding.term},
        )
    return value


Safe = AfterValidator(child_safe)
Required = Annotated[str, _line(strip_whitespace=True, min_length=1, max_length=100), Safe, NoBidi]
Optional_ = Annotated[str, _line(strip_whitespace=True, max_length=300), Safe, NoBidi] | None


class JsonRefused(ValueError):
    """JSON text the service will not parse: too large, too deep, not UTF-8, or not JSON."""


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def parse_json(raw: bytes | str, *, max_bytes: int, max_depth: int) -> Any:
    """Parse JSON after checking its size and nesting depth (the parser recurses once per level)."""
    if len(raw) > max_bytes:
        raise JsonRefused(f"the JSON text is larger than {max_bytes // 1024} KB")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JsonRefused("the JSON text is not valid UTF-8") from None
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise JsonRefused(f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise JsonRefused(f"not valid JSON: {getattr(exc, 'msg', 'too deep')}") from None

class _Hints(BaseModel):
    """Hint fields, stored as a plain dict without the empty ones."""

    model_config = ConfigDict(extra="forbid")

    def as_fields(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump().items() if value}


class SceneAnnotation(_Hints):
    """The hints for one scene: three required, seven optional (comma-separated items).

    The fields are `shared.vocabulary.HINT_FIELDS`; a test keeps the two in step.
    """

    name: Required
    i_action: Required
    classification: Classification
    character: Optional_ = None
    setting: Optional_ = None
    action: Optional_ = None
    feeling: Optional_ = None
    causalRelationship: Optional_ = None
    outcomeResolution: Optional_ = None
    prediction: Optional_ = None


class BookHints(_Hints):
    """Hints for the whole book: the main character and who is with them, typed once.

    Stored with the book; when the scenes' hints come later, each scene's hint form starts from
    them, and the book's title is made from the name until the hints arrive.
    """

    name: Annotated[str, _line(strip_whitespace=True, max_length=100), Safe, NoBidi] | None = None
    character: Optional_ = None


class BookRequest(BaseModel):
    """The `book` JSON part of POST /api/v1/books."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, _line(strip_whitespace=True, max_length=200), Safe, NoBidi] | None = None
    age: AgeBand | None = None
    scenes: list[SceneAnnotation] | None = None
    book_hints: BookHints | None = None
    email_when_done: bool = False
    # How the pages look (GET /api/v1/styles lists what this server draws); checked against the server's list.
    style: Annotated[str, _line(strip_whitespace=True, min_length=1, max_length=16)] = PHOTO
    # Who the book is for, set on its last page ("사랑하는 하은이에게").
    dedication: Annotated[str, _line(strip_whitespace=True, max_length=100), Safe, NoBidi] | None = None


class BookUpdate(BaseModel):
    """PATCH /api/v1/books/{id}: the book's own title."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, _line(strip_whitespace=True, min_length=1, max_length=200), Safe, NoBidi]


class PictureChoice(BaseModel):
    """PUT .../scenes/{index}/picture: the page shows its photo (true) or its drawing (false)."""

    model_config = ConfigDict(extra="forbid")

    use_photo: bool


class ScenesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenes: list[SceneAnnotation] = Field(min_length=1, max_length=10)


class TextEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=TEXT_PATTERN), LineBreaks]


class AlternativeChoice(BaseModel):
    """POST .../scenes/{index}/choose: which of the page's alternatives (0-based) to put on it."""

    model_config = ConfigDict(extra="forbid")

    alternative: Annotated[int, Field(ge=0, le=20)]


Password = Annotated[str, _line(min_length=8, max_length=200)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Password


class NewPassword(BaseModel):
    """A password being set (password change, reset): the same rule as at sign-up."""

    model_config = ConfigDict(extra="forbid")

    password: Password


class PasswordCheck(BaseModel):
    """The account's password again, before something that cannot be undone (DELETE /users/me)."""

    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, _line(min_length=1, max_length=200)]


def _plain_name(value: str) -> str:
    """Refuse a sender's name that is more than a name: an address, brackets, "@", a link."""
    if sender_problem(value) is not None:
        raise PydanticCustomError(SENDER_REFUSED, SENDER_RULE)
    return value


class EmailBook(BaseModel):
    """Mail a finished book: to the caller unless `to`, from `sender_name` (optional) with a `note` (optional)."""

    model_config = ConfigDict(extra="forbid")

    to: EmailStr | None = None
    # A name only, shown in the mail's body and subject (never its From): shared/mail_text.py.
    sender_name: Annotated[str, _line(strip_whitespace=True, max_length=SENDER_MAX), NoBidi,
                           AfterValidator(_plain_name)] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=TEXT_PATTERN), LineBreaks] | None = None


_EMAIL_ADDRESS = TypeAdapter(EmailStr)


def mail_address(text: str) -> str | None:
    """The address `text` names, in lower case as accounts keep it; None if it is not one.

    EmailStr also takes "Name <address>": whatever counts or looks up by address (the reset mail's
    rate limit, the worker's lookup) sees the address, not what was typed.
    """
    try:
        return _EMAIL_ADDRESS.validate_python(text.strip()).lower()
    except ValidationError:
        return None
