"""Sending stored files: sendfile from a local disk, or from S3 a presigned redirect, a stream, or bytes in memory.

Downloads are named after the book's title: `filename*` carries the title (RFC 6266/8187), and
`filename` an ASCII name for clients that read only that one (curl -OJ, old mail programs): the
title romanised, never blank.
"""
from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response, redirect, send_file

from shared.models import Book
from shared.storage import Storage
from web.db import current_settings

# The largest S3 file sent from memory when byte ranges are asked for (page audio is 50-300 KB).
RANGED_IN_MEMORY_MAX = 20 * 1024 * 1024

# Revised Romanization of Korean, letter by letter (no sound changes across syllables: a file
# name only has to be recognisable). A syllable is 0xAC00 + (initial * 21 + medial) * 28 + final.
_INITIALS = "g kk n d tt r m b pp s ss - j jj ch k t p h".split()
_MEDIALS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINALS = "- k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()


def romanised(text: str) -> str:
    """`text` in ASCII letters: Hangul romanised, accents dropped, other scripts and symbols left out."""
    letters = []
    for char in text:
        code = ord(char) - 0xAC00
        if 0 <= code < 11172:
            initial, medial, final = code // 588, code % 588 // 28, code % 28
            letters.append((_INITIALS[initial] + _MEDIALS[medial] + _FINALS[final]).replace("-", ""))
        else:
            letters.append(unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode())
    return "".join(letters)


@dataclass(frozen=True)
class DownloadName:
    """A download's name as the person sees it (UTF-8, the title) and its ASCII stand-in."""

    name: str
    ascii: str

    @property
    def header(self) -> str:
        """The Content-Disposition value: both names, the UTF-8 one percent-encoded."""
        if self.name == self.ascii:
            return f'attachment; filename="{self.ascii}"'
        return f"attachment; filename=\"{self.ascii}\"; filename*=UTF-8''{quote(self.name, safe='')}"


def book_download(book: Book, extension: str) -> DownloadName:
    """The book's file named after its title (`나비의 하루.pdf`), the ASCII one romanised (`nabiui haru.pdf`).

    A title with nothing to romanise (emoji, Chinese) falls back to `talesrunner-book-<id8>`.
    """
    stem = book.file_stem
    plain = re.sub(r"[^A-Za-z0-9 ()_.,+-]+", " ", romanised(stem))  # nothing a header or a file system objects to
    plain = " ".join(plain.split())[:80].strip(" .-_")
    if not re.search(r"[A-Za-z0-9]", plain):
        plain = f"talesrunner-book-{book.id[:8]}"
    return DownloadName(f"{stem}.{extension}", f"{plain}.{extension}")


def send_stored(storage: Storage, name: str, mimetype: str, download_name: DownloadName | None = None,
                max_age: int = 0, allow_redirect: bool = False, ranges: bool = False) -> Response:
    """A response carrying the stored file `name`; FileNotFoundError when it is gone.

    `download_name`: sent as an attachment under that name (book_download). `ranges`: answer Range
    requests (206) from S3 too, as sendfile does from a disk. Audio needs it: iOS Safari plays no
    audio served without, and no browser can seek in it.
    """
    path = storage.local_path(name)
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(name)
        return _named(send_file(path, mimetype=mimetype, max_age=max_age), download_name)
    # Pages load photos from their own origin (the CSP allows no other), so only downloads redirect.
    if allow_redirect and download_name and current_settings().TALES_S3_DOWNLOADS == "redirect":
        if not storage.exists(name):
            raise FileNotFoundError(name)
        response = redirect(storage.presigned_url(name, download_name.name, mimetype), code=302)
        response.headers["Cache-Control"] = "private, no-store"  # the link expires; never cache the redirect
        return response
    # One GET gives the length and the body: a rebuild published between a HEAD and a GET would
    # send the new file under the old length (gunicorn then cuts it short or waits for bytes).
    body, size = storage.open_with_size(name)
    if ranges and size <= RANGED_IN_MEMORY_MAX:
        with body:
            data = body.read()
        return _named(send_file(io.BytesIO(data), mimetype=mimetype, max_age=max_age, conditional=True,
                                etag=hashlib.sha256(data).hexdigest()[:32]), download_name)
    response = send_file(body, mimetype=mimetype, max_age=max_age, conditional=False)
    response.content_length = size
    return _named(response, download_name)


def _named(response: Response, download_name: DownloadName | None) -> Response:
    # Werkzeug's own header drops what is not ASCII from `filename`: a Korean title became " .pdf".
    if download_name is not None:
        response.headers["Content-Disposition"] = download_name.header
    return response
