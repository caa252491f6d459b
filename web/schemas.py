"""Validation of what users send, shared by the JSON API and the pages."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from shared.safety import find_unsafe
from shared.vocabulary import AGE_BANDS, CLASSIFICATIONS, AgeBand, Classification

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
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Safe]
Optional_ = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Safe] | None

class SceneAnnotation(BaseModel):
    """The hints for one scene: three required, seven optional (comma-separated items).

    The fields are `shared.vocabulary.HINT_FIELDS`; a test keeps the two in step.
    """

    model_config = ConfigDict(extra="forbid")

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

    def as_fields(self) -> dict[str, str]:
        """The annotation as a plain dict without empty optional fields."""
        return {key: value for key, value in self.model_dump().items() if value}


class BookRequest(BaseModel):
    """The `book` JSON part of POST /api/v1/books."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Safe] | None = None
    age: AgeBand | None = None
    scenes: list[SceneAnnotation] | None = None
    email_when_done: bool = False


class ScenesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenes: list[SceneAnnotation] = Field(min_length=1, max_length=10)


class TextEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)]


class EmailBook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: EmailStr | None = None


def error_code(exc: ValidationError) -> str:
    """The API error code: `unsafe_text` for words a children's book must not carry, else `invalid`."""
    return UNSAFE if exc.errors()[0].get("type") == UNSAFE else "invalid"


def describe_error(exc: ValidationError) -> tuple[str, str | None]:
    """The first validation problem as (message a person can act on, dotted field path)."""
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    field = ".".join(location) or None
    message = first.get("msg", "invalid value")
    if first.get("type") == "literal_error" and location and location[-1] == "classification":
        message = "classification must be one of: " + ", ".join(CLASSIFICATIONS)
    elif first.get("type") == "literal_error" and location and location[-1] == "age":
        message = "age must be one of: " + ", ".join(AGE_BANDS)
    elif first.get("type") == "missing":
        message = "this field is required"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    return (f"{field}: {message}" if field else message), field
