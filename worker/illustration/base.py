"""What every illustrator backend takes and gives: pages in, drawn pictures out, one call per book."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from shared.styles import Style
from worker.errors import StageError


@dataclass(frozen=True)
class PageToDraw:
    """One page: its photo (RGB, upright, already reduced to the size drawn), what it shows, its seed."""

    picture: Image.Image
    caption: str  # the page's English caption ("" when there is none): what the drawing model is told
    seed: int  # the book's seed mixed with the page and how often it was redrawn


class PartlyDrawn(StageError):
    """A page failed after others were drawn (and paid for): `drawn` holds those, by their position in
    the call. The message is the failure's, so the pages left keep their photos saying why."""

    def __init__(self, message: str, drawn: dict[int, Image.Image] | None = None):
        super().__init__(message)
        self.drawn = drawn or {}


class Illustrator(Protocol):
    name: str  # "filter", "diffusers", "openai": stored with each drawn picture
    # Said in the book's notes when the pictures come from a model that draws nothing real
    # (the tiny random-weight pipeline of the tests), as tiny-model books already say of their text.
    note: str | None

    def draw(self, pages: list[PageToDraw], style: Style) -> list[Image.Image | None]:
        """The pages drawn in `style`, in order, each the size of its photo; None for a page the model's
        safety checker refused (it keeps its photo); raises StageError on failure, PartlyDrawn when
        some pages were drawn before it."""
        ...
