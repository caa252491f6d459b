"""A small OpenAI-compatible server on 127.0.0.1 for the tests (no network): chat completions and speech.

Each test sets `stub.reply` to a function of the request body that returns the answer's
text, or a `(status, json_body)` error, or `Hang(seconds)` to answer too late.
POST /v1/audio/speech answers `stub.speech(body)` the same way, with WAV bytes for an answer;
by default `speech_wav(body["input"])`, a tone as long as the text would take to say.
"""
from __future__ import annotations

import io
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


@dataclass(frozen=True)
class Hang:
    seconds: float


Reply = Callable[[dict[str, Any]], "str | tuple[int, dict] | Hang"]
SpeechReply = Callable[[dict[str, Any]], "bytes | tuple[int, dict] | Hang"]
SPEECH_RATE = 24000  # OpenAI's WAV speech is 24 kHz, 16-bit mono
SECONDS_PER_CHARACTER = 0.06


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


class ChatStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Reply = lambda body: "안녕"
        self.speech_requests: list[dict[str, Any]] = []
        self.speech: SpeechReply = lambda body: speech_wav(body["input"])
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

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

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
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

            def _speech(self, body: dict) -> None:
                stub.speech_requests.append(body)
                answer = stub.speech(body)
                if isinstance(answer, Hang):
                    time.sleep(answer.seconds)
                    answer = speech_wav("too late")
                if isinstance(answer, tuple):
                    return self._send(*answer)
                return self._send(200, answer, "audio/wav")

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
