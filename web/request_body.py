"""The rest of a request body the app answered without reading: read and dropped before the answer goes out.

A view may answer before it has read the whole body: 413 after the first 256 KB of a 3 MB JSON
body, 401 before reading anything. gunicorn then closes the connection (the client asked for
`Connection: close`) with the unread bytes still arriving, and the kernel answers them with a TCP
reset: the client, still sending, sees "connection reset" instead of the 413. On a keep-alive
connection gunicorn reads the rest itself, then holds the thread waiting for the next request.
Reading the rest here, up to the app's whole-request limit (MAX_CONTENT_LENGTH), lets the answer
arrive whole either way. Larger bodies are refused by their Content-Length before anything is
read and are not drained: the proxy in front (docs/serving.md) answers those itself.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


def drain_unread_body(response: Response) -> Response:
    """Read what is left of this request's body (bounded by its Content-Length and MAX_CONTENT_LENGTH)."""
    length = request.content_length
    if not length or length > (current_app.config["MAX_CONTENT_LENGTH"] or 0):
        return response
    try:
        # The same stream the view read from, so it goes on from where the view stopped, never past the body.
        stream = request.stream
        while stream.read(CHUNK):
            pass
    except (ClientDisconnected, RequestEntityTooLarge, OSError):
        log.debug("the client stopped sending its request body", exc_info=True)
    return response


def init_app(app: Flask) -> None:
    """Drain every request's unread body after its answer is made and before it is sent."""
    app.after_request(drain_unread_body)
