"""Files of a book behind one interface: a local directory (DATA_DIR) or an S3-compatible bucket.

Names are relative keys such as `books/<book id>/photos/<random>.jpg`, the same for both
backends and the ones the database keeps. Code that needs a real file (Pillow, reportlab)
asks for a local copy; code that writes one hands over a finished temporary file to publish.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO


class Storage(ABC):
    """Where uploads, print copies, thumbnails and PDFs live: books/<id>/{photos/, print/, thumbs/, book.pdf}."""

    @staticmethod
    def book_prefix(book_id: str) -> str:
        if not book_id.isalnum():  # ids are generated hex; never let one walk the tree
            raise ValueError(f"bad book id {book_id!r}")
        return f"books/{book_id}"

    @staticmethod
    def check_name(name: str) -> str:
        """A stored name as kept in the database; refuses one that could escape the book folders."""
        parts = name.split("/")
        if not name or name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"stored name {name!r} escapes the storage")
        return name

    def pdf_name(self, book_id: str) -> str:
        return f"{self.book_prefix(book_id)}/book.pdf"

    def epub_name(self, book_id: str) -> str:
        return f"{self.book_prefix(book_id)}/book.epub"

    def audio_name(self, book_id: str, index: int, text: str, data: bytes) -> str:
        """A page's narration, named after the text it reads and the audio itself.

        The same text read again is not the same audio (VITS draws noise, a voice or a pause setting
        changes), and browsers cache a page's audio by its name (the URL's `v`): new audio, new name.
        """
        digest = hashlib.sha256(text.encode("utf-8") + b"\0" + data).hexdigest()[:16]
        return f"{self.audio_prefix(book_id)}/page-{index}-{digest}.mp3"

    def audio_prefix(self, book_id: str) -> str:
        return f"{self.book_prefix(book_id)}/audio"

    def picture_name(self, book_id: str, index: int, style: str, seed: int) -> str:
        """A drawn page: a new seed (a redraw) or style is a new file, so a page never shows a half-written one."""
        return f"{self.book_prefix(book_id)}/pictures/page-{index}-{style}-{seed}.jpg"

    def print_prefix(self, book_id: str) -> str:
        """Where the photos scaled for print are cached between PDF builds."""
        return f"{self.book_prefix(book_id)}/print"

    def thumb_name(self, book_id: str, image_name: str, size: int) -> str:
        # Named after the stored photo, so a file left by a deleted scene is never served for a new one.
        return f"{self.book_prefix(book_id)}/thumbs/{Path(image_name).stem}-{size}.jpg"

    def save_photo(self, book_id: str, data: bytes, extension: str) -> str:
        """Store an uploaded photo under a generated name; returns its name."""
        name = f"{self.book_prefix(book_id)}/photos/{secrets.token_hex(12)}.{extension}"
        self.write_bytes(name, data)
        return name

    @abstractmethod
    def write_bytes(self, name: str, data: bytes) -> None:
        """Store `data` under `name`, all at once (readers never see half a file)."""

    @abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The whole file (small files only: thumbnails, a PDF to attach)."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def size(self, name: str) -> int | None:
        """Bytes stored under `name`, or None when there is no such file."""

    @abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A file object to stream the stored file from; the caller closes it."""

    @abstractmethod
    def open_with_size(self, name: str) -> tuple[BinaryIO, int]:
        """`open` and the size of what it streams, from one read of the store; FileNotFoundError when gone.

        A size asked for separately may belong to another version of the file: one published in
        between would be sent with the old length.
        """

    @abstractmethod
    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        """A path to the file on this host's disk for the duration of the block."""

    @abstractmethod
    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        """A local folder holding what is stored under `prefix`; files added in it are stored on success."""

    @abstractmethod
    def temp_path_for(self, name: str) -> Path:
        """An empty temporary local file to write `name` into before `publish`."""

    @abstractmethod
    def publish(self, temp: Path, name: str) -> None:
        """Move a finished temporary file into place under `name` (atomically for readers)."""

    @abstractmethod
    def delete_book(self, book_id: str) -> None: ...

    @abstractmethod
    def remove(self, name: str) -> None:
        """Delete one stored file; nothing happens when it is already gone."""

    def remove_temp_files(self, book_id: str) -> int:
        """Delete temporary files a killed process left among the book's files (none in an object store).

        Only files untouched for TALES_TEMP_FILE_GRACE_S: the web tier writes thumbnails through
        temporary files in the same folders while a worker renders the book.
        """
        return 0

    @abstractmethod
    def files_under(self, prefix: str) -> list[tuple[str, datetime]]:
        """The stored files directly under `prefix` (a folder such as a book's audio), with the time each
        was written (naive UTC), by name; temporary files being written are not among them."""

    @abstractmethod
    def stored_books(self) -> Iterator[tuple[str, datetime]]:
        """Every book id that has files, with the time its newest file was written (naive UTC)."""

    def remove_stale_scratch(self) -> int:
        """Remove local scratch space left by processes on this host that are gone; how many folders went."""
        return 0

    def presigned_url(self, name: str, filename: str, content_type: str) -> str | None:
        """A short-lived download link straight from the store, or None where there is none (local)."""
        return None

    def local_path(self, name: str) -> Path | None:
        """The file's path when it lives on this host's disk (sent with sendfile), else None."""
        return None


class LocalStorage(Storage):
    """DATA_DIR on one host (or a volume every process mounts)."""

    def __init__(self, data_dir: Path, temp_grace_s: float = 300.0):
        self.root = Path(data_dir)
        self.temp_grace_s = temp_grace_s  # TALES_TEMP_FILE_GRACE_S (remove_temp_files)

    def book_dir(self, book_id: str) -> Path:
        return self.root / self.book_prefix(book_id)

    def path(self, name: str) -> Path:
        """Absolute path of a stored file name (as kept in the database)."""
        resolved = (self.root / self.check_name(name)).resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError(f"stored name {name!r} escapes DATA_DIR")
        return resolved

    def local_path(self, name: str) -> Path | None:
        return self.path(name)

    def print_dir(self, book_id: str) -> Path:
        folder = self.path(self.print_prefix(book_id))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_bytes(self, name: str, data: bytes) -> None:
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{secrets.token_hex(6)}-{target.name}")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # two writers racing both write whole files; the last rename wins

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int | None:
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, name: str) -> BinaryIO:
        return self.path(name).open("rb")

    def open_with_size(self, name: str) -> tuple[BinaryIO, int]:
        stream = self.path(name).open("rb")
        # The open file's own size: publish replaces the name, never the file already open.
        return stream, os.fstat(stream.fileno()).st_size

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path

    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        folder = self.path(prefix)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder

    def temp_path_for(self, name: str) -> Path:
        # Beside the target, on the same file system, so publish is a rename.
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        os.close(fd)
        return Path(tmp)

    def publish(self, temp: Path, name: str) -> None:
        os.replace(temp, self.path(name))

    def delete_book(self, book_id: str) -> None:
        shutil.rmtree(self.book_dir(book_id), ignore_errors=True)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def files_under(self, prefix: str) -> list[tuple[str, datetime]]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted((f"{prefix}/{path.name}", datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None))
                      for path in folder.glob("*") if path.is_file() and not path.name.startswith(".tmp-"))

    def stored_books(self) -> Iterator[tuple[str, datetime]]:
        for folder in (self.root / "books").glob("*"):
            stamps = [path.stat().st_mtime for path in folder.rglob("*") if path.is_file()] or [folder.stat().st_mtime]
            yield folder.name, datetime.fromtimestamp(max(stamps), UTC).replace(tzinfo=None)

    def remove_temp_files(self, book_id: str) -> int:
        """Delete the `.tmp-*` files a killed process left in the book's folders, untouched for `temp_grace_s`; how many went."""
        folder = self.book_dir(book_id)
        cutoff = time.time() - self.temp_grace_s
        removed = 0
        for tmp in [*folder.glob(".tmp-*"), *folder.glob("*/.tmp-*")]:
            try:
                if tmp.stat().st_mtime > cutoff:
                    continue  # being written now (a thumbnail the web tier is making, say)
                tmp.unlink()
            except FileNotFoundError:  # its writer moved it into place meanwhile
                continue
            removed += 1
        return removed
