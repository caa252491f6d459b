"""A small OpenAI-compatible server on 127.0.0.1 for the tests (no network): chat completions, speech, image edits.

Each test sets `stub.reply` to a function of the request body that returns the answer's
text, or a `(status, json_body)` error, or `Hang(seconds)` to answer too late.
POST /v1/audio/speech answers `stub.speech(body)` the same way, with WAV bytes for an answer;
by default `speech_wav(body["input"])`, a tone as long as the text would take to say.
POST /v1/images/edits (multipart form) answers `stub.edit(form)` the same way, with PNG bytes for
an answer (sent as `b64_json`), or `Url(png)` to send a `url` the stub serves on GET instead;
by default `drawn_png(form["size"])`, a flat picture of the size asked for. Each form is kept in
`stub.edit_requests`: its text fields as str, `image` as bytes with `image_filename` and
`image_content_type`; its headers in `stub.edit_headers`.
POST /v1/audio/transcriptions (multipart form) answers `stub.transcribe(form)` the same way, with the
text for an answer (sent as `{"text": ...}`); by default TRANSCRIPT. Each form is kept in
`stub.transcribe_requests`, `file` as bytes with `file_filename` and `file_content_type`.
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import itertools
import json
import math
import struct
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass(frozen=True)
class Url:
    """An image edit answered with a `url` to the picture (served by the stub) rather than `b64_json`."""

    png: bytes


Reply = Callable[[dict[str, Any]], "str | tuple[int, dict] | Hang"]
SpeechReply = Callable[[dict[str, Any]], "bytes | tuple[int, dict] | Hang"]
EditReply = Callable[[dict[str, Any]], "bytes | Url | tuple[int, dict] | Hang"]
SPEECH_RATE = 24000  # OpenAI's WAV speech is 24 kHz, 16-bit mono
SECONDS_PER_CHARACTER = 0.06
TRANSCRIPT = "민호가 공원에서 자전거를 탔어요"
TranscribeReply = Callable[[dict[str, Any]], "str | tuple[int, dict] | Hang"]


def speech_wav(text: str, rate: int = SPEECH_RATE) -> bytes:
    """A 16-bit mono WAV of a quiet 220 Hz tone, 0.1 s plus 60 ms for each character of `text`."""
    count = round((0.1 + SECONDS_PER_CHARACTER * len(text)) * rate)
    frames = b"".join(struct.pack("<h", round(8000 * math.sin(2 * math.pi * 220 * i / rate))) for i in range(count))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return buffer.getvalue()


def drawn_png(size: str | None = None, colour: tuple[int, int, int] = (200, 120, 60)) -> bytes:
    """A PNG of one flat colour, `size` ("WxH", 1024x1024 when absent or "auto") pixels."""
    width, height = (1024, 1024) if not size or size == "auto" else (int(side) for side in size.split("x"))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def multipart_form(content_type: str, data: bytes) -> dict[str, Any]:
    """A multipart/form-data body's fields: text as str; a file as bytes plus NAME_filename, NAME_content_type."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + data
    )
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            form[name] = payload.decode("utf-8")
        else:
            form[name] = payload
            form[f"{name}_filename"] = filename
            form[f"{name}_content_type"] = part.get_content_type()
    return form


class ChatStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Reply = lambda body: "안녕"
        self.speech_requests: list[dict[str, Any]] = []
        self.speech: SpeechReply = lambda body: speech_wav(body["input"])
        self.edit_requests: list[dict[str, Any]] = []
        self.edit_headers: list[dict[str, str]] = []
        self.edit: EditReply = lambda form: drawn_png(form.get("size"))
        self.transcribe_requests: list[dict[str, Any]] = []
        self.transcribe: TranscribeReply = lambda form: TRANSCRIPT
        self._files: dict[str, bytes] = {}  # what Url answers point to
        self._file_numbers = itertools.count()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ChatStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                data = stub._files.get(self.path)
                if data is None:
                    return self._send(404, {"error": {"message": f"no file {self.path}"}})
                return self._send(200, data, "image/png")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") == "/v1/images/edits":
                    return self._edit(raw)
                if self.path.rstrip("/") == "/v1/audio/transcriptions":
                    return self._transcribe(raw)
                body = json.loads(raw or b"{}")
                if self.path.rstrip("/") == "/v1/audio/speech":
                    return self._speech(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                stub.requests.append(body)
                stub.headers.append(dict(self.headers))
                answer = stub.reply(body)
                if isinstance(answer, Hang):
                    time.sleep(answer.seconds)
                    return self._send(200, _completion(body, "too late"))
                if isinstance(answer, tuple):
                    return self._send(*answer)
                return self._send(200, _completion(body, answer))

            def _transcribe(self, raw: bytes) -> None:
                form = multipart_form(self.headers.get("Content-Type", ""), raw)
                stub.transcribe_requests.append(form)
                answer = stub.transcribe(form)
                if isinstance(answer, Hang):
                    time.sleep(answer.seconds)
                    answer = "too late"
                if isinstance(answer, tuple):
                    return self._send(*answer)
                return self._send(200, {"text": answer})

            def _speech(self, body: dict) -> None:
                stub.speech_requests.append(body)
                answer = stub.speech(body)
                if isinstance(answer, Hang):
                    time.sleep(answer.seconds)
                    answer = speech_wav("too late")
                if isinstance(answer, tuple):
                    return self._send(*answer)
                return self._send(200, answer, "audio/wav")

            def _edit(self, raw: bytes) -> None:
                form = multipart_form(self.headers.get("Content-Type", ""), raw)
                stub.edit_requests.append(form)
                stub.edit_headers.append(dict(self.headers))
                answer = stub.edit(form)
                if isinstance(answer, Hang):
                    time.sleep(answer.seconds)
                    answer = drawn_png(form.get("size"))
                if isinstance(answer, tuple):
                    return self._send(*answer)
                if isinstance(answer, Url):
                    path = f"/files/{next(stub._file_numbers)}.png"
                    stub._files[path] = answer.png
                    created = int(time.time())
                    return self._send(200, {"created": created, "data": [{"url": stub.origin + path}]})
                encoded = base64.b64encode(answer).decode("ascii")
                return self._send(200, {"created": int(time.time()), "data": [{"b64_json": encoded}]})

            def _send(self, status: int, payload: dict | bytes, media_type: str = "application/json") -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", media_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

        return Handler


def _completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def user_text(body: dict) -> str:
    """The text parts of the request's last user message."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") == "text")


def user_json(body: dict) -> dict:
    return json.loads(user_text(body))
