"""TALES_ILLUSTRATOR=openai: each page's photo redrawn by an OpenAI-compatible images edit endpoint.

One POST /v1/images/edits a page (a few run at a time): the photo as a PNG reduced to at most
SEND_SIDE on its long side, the style's prompt with the page's English caption, the model
TALES_OPENAI_IMAGE_MODEL. The photos leave the server for the one OPENAI_BASE_URL names.

Sizes: gpt-image-1 draws 1024x1024, 1536x1024 or 1024x1536. The one asked for is the one whose
shape is nearest the photo's (nearest width:height ratio on a log scale, so a photo wider than
about 1.22:1 is drawn landscape, taller than 1:1.22 portrait, square otherwise). The drawing is
brought back to its page's size by `ImageOps.fit`: scaled to cover the page and its overhang
cropped evenly from both sides, so nobody is stretched when the page's shape is not exactly
one of the three.

The answer's `b64_json` is decoded; a server that answers with a `url` instead (dall-e-2 by
default, some compatible servers) has the picture fetched from it.

Errors follow worker.ml.openai_chat, the client's other user (its client, its split between
faults worth retrying and answers that retrying will not change), worded for the book like
worker.audio.openai_speech: a Korean sentence for the parent, the operator's detail after it in
parentheses. Timeouts, lost connections and a busy or failing server (429, 5xx) raise
`NotAnswering` / `Unreachable`, StageErrors that are also TimeoutError / ConnectionError, which
worker.tasks.is_transient retries as it retries openai_chat's; a refusal (4xx: content policy,
a bad key, an unknown model) and an unreadable picture raise a plain StageError. Every error
keeps the client's exception as its `__cause__`.
"""
from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.config import Settings
from shared.styles import Style
from worker.errors import StageError
from worker.illustration.base import PageToDraw, PartlyDrawn

log = logging.getLogger(__name__)

SEND_SIDE = 1024  # the long side of the photo sent: the model draws at about this size anyway
SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))  # gpt-image-1's sizes, width x height
PROMPT = "Redraw this family photo as {style}; keep the people, their faces, poses and the layout; no text."
# GPT image models always answer b64_json and refuse `response_format`; dall-e-2 answers a url unless asked.
B64_BY_DEFAULT = ("gpt-image", "chatgpt-image")
POLICY_CODES = {"moderation_blocked", "content_policy_violation"}

NOT_CONFIGURED = "그림을 그리는 서버가 설정되어 있지 않아요. 운영자에게 알려 주세요."
NOT_ANSWERING = "그림을 그리는 서버가 지금 답하지 않아요. 잠시 뒤에 다시 만들어 주세요."
REFUSED = "그림을 그리는 서버가 요청을 받아 주지 않았어요. 운영자에게 알려 주세요."
POLICY = ("그림을 그리는 서버가 사진 한 장을 안전 기준 때문에 그리지 않았어요. "
          "다른 사진으로 바꾸거나 '사진 그대로'로 만들어 주세요.")
BAD_PICTURE = "그림을 그리는 서버가 보낸 그림을 읽지 못했어요. 운영자에게 알려 주세요."
NO_STYLE = "이 그림체로는 그릴 수 없어요. 다른 그림체를 골라 주세요."


class NotAnswering(StageError, TimeoutError):
    """The server did not answer in time: a StageError to show, a TimeoutError to retry."""


class Unreachable(StageError, ConnectionError):
    """The server could not be reached, or was busy or failing: a StageError to show, a ConnectionError to retry."""


class _NotSent(Exception):
    """A page left unsent because another page of the book had failed."""


def _said(korean: str, detail: str) -> str:
    return f"{korean} ({detail})"


def size_for(width: int, height: int) -> tuple[int, int]:
    """The size of SIZES whose shape is nearest width:height (log of the ratio)."""
    shape = math.log(width / height)
    return min(SIZES, key=lambda size: abs(math.log(size[0] / size[1]) - shape))


def prompt_for(style: Style, caption: str) -> str:
    prompt = PROMPT.format(style=style.prompt)
    caption = " ".join(caption.split()).rstrip(".")
    return f"{prompt} The photo shows {caption}." if caption else prompt


def png_bytes(picture: Image.Image, side: int = SEND_SIDE) -> bytes:
    """`picture` as an RGB PNG, reduced to at most `side` on its long side."""
    picture = picture.convert("RGB")
    picture.thumbnail((side, side), Image.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


class OpenAIIllustrator:
    """Each page redrawn in the style by the server's image model, one request a page."""

    name = "openai"
    note: str | None = None

    def __init__(self, settings: Settings, parallel: int = 2):
        from worker.ml.openai_chat import client_for, is_configured

        if not is_configured(settings):
            log.error("TALES_ILLUSTRATOR=openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set")
            raise StageError(_said(NOT_CONFIGURED, "set OPENAI_API_KEY, or OPENAI_BASE_URL for another server"))
        self.client = client_for(settings)
        self.model = settings.TALES_OPENAI_IMAGE_MODEL
        self.timeout = settings.TALES_OPENAI_TIMEOUT
        self.where = settings.OPENAI_BASE_URL or "https://api.openai.com/v1"
        self.parallel = parallel

    def draw(self, pages: list[PageToDraw], style: Style) -> list[Image.Image]:
        if not style.prompt:
            raise StageError(_said(NO_STYLE, f"the openai illustrator has no prompt for the style '{style.id}'"))
        if not pages:
            return []
        drawn: dict[int, Image.Image] = {}
        failure: Exception | None = None
        failed = threading.Event()

        def page_unless_failed(page: PageToDraw, which: str) -> Image.Image:
            # After a failure the pages not yet sent are not sent (nor paid for).
            if failed.is_set():
                raise _NotSent
            try:
                return self.draw_page(page, style, which)
            except Exception:
                failed.set()
                raise

        with ThreadPoolExecutor(max_workers=min(self.parallel, len(pages))) as pool:
            futures: list[Future[Image.Image]] = [
                pool.submit(page_unless_failed, page, f"page {number} of {len(pages)}")
                for number, page in enumerate(pages, 1)
            ]
            try:
                for position, future in enumerate(futures):
                    try:
                        drawn[position] = future.result()
                    except _NotSent:
                        continue
                    except Exception as exc:
                        if not future.done():
                            raise  # the wait itself was interrupted (a time limit), not the page
                        failure = failure or exc
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        if failure is None:
            return [drawn[position] for position in range(len(pages))]
        if not drawn:
            raise failure
        # The pages drawn before it are kept: a redraw of the book would pay for them again.
        raise PartlyDrawn(str(failure), drawn) from failure

    def draw_page(self, page: PageToDraw, style: Style, which: str = "a page") -> Image.Image:
        """One page drawn, the size of its photo."""
        from worker.ml.openai_chat import server_errors

        width, height = size_for(*page.picture.size)
        kwargs = {}
        if not self.model.startswith(B64_BY_DEFAULT):
            kwargs["response_format"] = "b64_json"
        where = f"the images server at {self.where} (model {self.model}, {which})"
        # One mapping of the client's failures (openai_chat.server_errors), worded here for the book.
        try:
            with server_errors(where, self.timeout):
                response = self.client.images.edit(
                    image=("photo.png", png_bytes(page.picture), "image/png"),
                    prompt=prompt_for(style, page.caption),
                    model=self.model,
                    size=f"{width}x{height}",
                    n=1,
                    **kwargs,
                )
        except TimeoutError as exc:
            raise NotAnswering(_said(NOT_ANSWERING, str(exc))) from exc.__cause__
        except ConnectionError as exc:
            raise Unreachable(_said(NOT_ANSWERING, str(exc))) from exc.__cause__
        except StageError as exc:
            korean = POLICY if _is_policy_refusal(exc.__cause__) else REFUSED
            raise StageError(_said(korean, str(exc))) from exc.__cause__
        drawn = self._picture(response, where)
        return ImageOps.fit(drawn, page.picture.size, Image.LANCZOS)

    def _picture(self, response, where: str) -> Image.Image:
        """The answer's picture, from its b64_json or else fetched from its url."""
        data = getattr(response, "data", None) or []
        first = data[0] if data else None
        encoded = getattr(first, "b64_json", None)
        url = getattr(first, "url", None)
        if encoded:
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise StageError(_said(BAD_PICTURE, f"{where} sent b64_json that is not base64")) from exc
        elif url:
            raw = self._fetch(url, where)
        else:
            raise StageError(_said(BAD_PICTURE, f"{where} sent no picture (neither b64_json nor url)"))
        try:
            with Image.open(io.BytesIO(raw)) as picture:
                return picture.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            detail = f"{where} sent {len(raw)} bytes that are not a picture: {exc}"
            raise StageError(_said(BAD_PICTURE, detail)) from exc

    def _fetch(self, url: str, where: str) -> bytes:
        import httpx

        try:
            response = httpx.get(url, timeout=self.timeout, follow_redirects=True)
        except httpx.TimeoutException as exc:
            detail = f"{where}: its picture at {url} did not come within {self.timeout:g} s"
            raise NotAnswering(_said(NOT_ANSWERING, detail)) from exc
        except httpx.HTTPError as exc:
            raise Unreachable(_said(NOT_ANSWERING, f"{where}: could not fetch its picture at {url}: {exc}")) from exc
        if response.status_code != 200:
            raise StageError(_said(BAD_PICTURE, f"{where}: its picture at {url} answered {response.status_code}"))
        return response.content


def _is_policy_refusal(exc: Exception) -> bool:
    """A refusal by the server's safety system (gpt-image-1: moderation_blocked; dall-e: content_policy_violation)."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else str(exc)
    return code in POLICY_CODES or "safety system" in message.lower() or "content policy" in message.lower()
