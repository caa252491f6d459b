"""Files of a book under DATA_DIR, with generated names, outside any served folder."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path


class Storage:
    """DATA_DIR/books/<book id>/{photos/<random>.<ext>, print/, book.pdf}."""

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)

    def book_dir(self, book_id: str) -> Path:
        if not book_id.isalnum():  # ids are generated hex; never let one walk the tree
            raise ValueError(f"bad book id {book_id!r}")
        return self.root / "books" / book_id

    def path(self, name: str) -> Path:
        """Absolute path of a stored file name (as kept in the database)."""
        resolved = (self.root / name).resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError(f"stored name {name!r} escapes DATA_DIR")
        return resolved

    def save_photo(self, book_id: str, data: bytes, extension: str) -> str:
        """Store an uploaded photo under a generated name; returns the name relative to DATA_DIR."""
        folder = self.book_dir(book_id) / "photos"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{secrets.token_hex(12)}.{extension}"
        self._write_atomic(target, data)
        return str(target.relative_to(self.root))

    def pdf_name(self, book_id: str) -> str:
        return str((self.book_dir(book_id) / "book.pdf").relative_to(self.root))

    def print_dir(self, book_id: str) -> Path:
        """Where the photos scaled for print are cached between PDF builds."""
        folder = self.book_dir(book_id) / "print"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def temp_path_for(self, name: str) -> Path:
        """A temporary file beside `name`, for writing then os.replace (atomic)."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        os.close(fd)
        return Path(tmp)

    def delete_book(self, book_id: str) -> None:
        shutil.rmtree(self.book_dir(book_id), ignore_errors=True)

    def remove_temp_files(self, book_id: str) -> int:
        """Delete the `.tmp-*` files a killed process left in the book's folders; how many went."""
        folder = self.book_dir(book_id)
        removed = 0
        for tmp in [*folder.glob(".tmp-*"), *folder.glob("*/.tmp-*")]:
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed

    @staticmethod
    def _write_atomic(target: Path, data: bytes) -> None:
        tmp = target.with_name(f".tmp-{target.name}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
