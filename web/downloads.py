"""Sending stored files: sendfile from a local disk, or from S3 a presigned redirect or a stream."""
from __future__ import annotations

from flask import Response, redirect, send_file

from shared.storage import Storage
from web.db import current_settings


def send_stored(storage: Storage, name: str, mimetype: str, download_name: str | None = None,
                max_age: int = 0, allow_redirect: bool = False) -> Response:
    """A response carrying the stored file `name`; FileNotFoundError when it is gone."""
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
    size = storage.size(name)
    if size is None:
        raise FileNotFoundError(name)
    response = send_file(storage.open(name), mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, max_age=max_age, conditional=False)
    response.content_length = size
    return response
