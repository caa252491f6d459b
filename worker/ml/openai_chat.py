"""One small client for any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, ...).

The backends (captioner, translator, writer, keywords) call `chat.complete(...)` or
`chat.complete_json(...)`. Errors come back in the two shapes the Celery tasks understand:
TimeoutError / ConnectionError for faults worth retrying (the task retries with backoff,
then fails the book saying why), StageError for answers that retrying will not change.
"""
from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from PIL import Image

from shared.config import Settings
from worker.errors import StageError

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def is_configured(settings: Settings) -> bool:
    """True when a server is named: an API key (OpenAI itself) or a base URL (any compatible server)."""
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


@lru_cache(maxsize=8)
def _client(base_url: str | None, api_key: str, timeout: float, max_retries: int):
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)


def client_for(settings: Settings):
    """The process-wide openai.OpenAI client for these settings' server, timeout and retries."""
    # Local servers (vLLM, Ollama) ignore the key, but the client insists on one.
    return _client(
        settings.OPENAI_BASE_URL,
        settings.OPENAI_API_KEY or "not-needed",
        settings.TALES_OPENAI_TIMEOUT,
        settings.TALES_OPENAI_MAX_RETRIES,
    )


def image_data_url(image: Image.Image, max_side: int = 768) -> str:
    """A JPEG data URL small enough to send: vision models look at well under 1 MP."""
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer, tolerating a ```json fence around it."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    value = json.loads(text[start : end + 1])
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


class OpenAIChat:
    """Chat completions against the server named by OPENAI_BASE_URL / OPENAI_API_KEY."""

    def __init__(self, settings: Settings):
        if not is_configured(settings):
            raise StageError(
                "no OpenAI-compatible server is configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for another server"
            )
        self.model = settings.TALES_OPENAI_MODEL
        self.timeout = settings.TALES_OPENAI_TIMEOUT
        self.where = settings.OPENAI_BASE_URL or "https://api.openai.com/v1"
        self.client = client_for(settings)

    def complete(self, messages: list[dict[str, Any]], json_mode: bool = False, max_tokens: int | None = None) -> str:
        """The text of the first choice; raises TimeoutError/ConnectionError (retry) or StageError."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        with server_errors(f"the OpenAI-compatible server at {self.where}", self.timeout):
            response = self.client.chat.completions.create(**kwargs)
        choices = getattr(response, "choices", None) or []
        content = choices[0].message.content if choices else None
        if not content or not content.strip():
            raise StageError(f"the OpenAI-compatible server at {self.where} sent an empty answer (model {self.model})")
        return content.strip()

    def complete_json(self, messages: list[dict[str, Any]], max_tokens: int | None = None) -> dict[str, Any]:
        """A JSON object answer; an answer that is not one is a StageError."""
        text = self.complete(messages, json_mode=True, max_tokens=max_tokens)
        try:
            return parse_json_object(text)
        except ValueError as exc:
            raise StageError(f"the model {self.model} did not answer with JSON ({exc}): {text[:200]!r}") from exc


@contextmanager
def server_errors(server: str, timeout: float, model: str | None = None) -> Iterator[None]:
    """The openai client's failures as the tasks read them: TimeoutError / ConnectionError (a
    timeout, no connection, busy or failing: retried) or StageError (refused: retrying will not help).
    `server` names it in the message ("the transcription server at URL")."""
    import openai

    try:
        yield
    except openai.APITimeoutError as exc:
        raise TimeoutError(f"{server} did not answer within {timeout:g} s") from exc
    except openai.APIConnectionError as exc:
        raise ConnectionError(f"could not reach {server}: {exc}") from exc
    except (openai.RateLimitError, openai.InternalServerError) as exc:
        raise ConnectionError(f"{server} is busy or failing ({exc.status_code})") from exc
    except openai.APIStatusError as exc:
        which = f", model {model}" if model else ""
        raise StageError(f"{server} refused the request ({exc.status_code}{which}): {_message(exc)}") from exc


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc)
