"""Sending stored files: sendfile from a local disk, or from S3 a presigned redirect, a stream, or bytes in memory."""
from __future__ import annotations

import hashlib
import io

from flask import Response, redirect, send_file

from shared.storage import Storage
from web.db import current_settings

# The largest S3 file sent from memory when byte ranges are asked for (page audio is 50-300 KB).
RANGED_IN_MEMORY_MAX = 20 * 1024 * 1024


def send_stored(storage: Storage, name: str, mimetype: str, download_name: str | None = None,
                max_age: int = 0, allow_redirect: bool = False, ranges: bool = False) -> Response:
    """A response carrying the stored file `name`; FileNotFoundError when it is gone.

    `ranges`: answer Range requests (206) from S3 too, as sendfile does from a disk. Audio needs it:
    iOS Safari plays no audio served without, and no browser can seek in it.
    """
    path = storage.local_path(name)
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(name)
        return send_file(path, mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, max_age=max_age)
    # Pages load photos from their own origin (the CSP allows no other), so only downloads redirect.
    if allow_redirect and download_name and current_settings().TALES_S3_DOWNLOADS == "redirect":
        if not storage.exists(name):
            raise FileNotFoundError(name)
        response = redirect(storage.presigned_url(name, download_name, mimetype), code=302)
        response.headers["Cache-Control"] = "private, no-store"  # the link expires; never cache the redirect
        return response
    # One GET gives the length and the body: a rebuild published between a HEAD and a GET would
    # send the new file under the old length (gunicorn then cuts it short or waits for bytes).
    body, size = storage.open_with_size(name)
    if ranges and size <= RANGED_IN_MEMORY_MAX:
        with body:
            data = body.read()
        return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, max_age=max_age, conditional=True,
                         etag=hashlib.sha256(data).hexdigest()[:32])
    response = send_file(body, mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, max_age=max_age, conditional=False)
    response.content_length = size
    return response
