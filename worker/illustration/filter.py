"""The offline `filter` illustrator: each page drawn from its photo with OpenCV on the CPU (shared/drawing.py).

No model and no network: what a server without a GPU or an API key can still draw. The drawing
itself lives in shared/, where the web tier's style picker draws its small previews with it.
"""
from __future__ import annotations

from PIL import Image

from shared.drawing import STYLE_IDS, draw_page
from shared.styles import Style
from worker.errors import StageError
from worker.illustration.base import PageToDraw


class FilterIllustrator:
    name = "filter"
    note: str | None = None

    def draw(self, pages: list[PageToDraw], style: Style) -> list[Image.Image]:
        """Each page drawn in `style`, one at a time (memory stays that of one page)."""
        if style.id not in STYLE_IDS:
            raise StageError(f"the filter illustrator cannot draw the style '{style.id}'")
        return [draw_page(page.picture, style.id, page.seed) for page in pages]
