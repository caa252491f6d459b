"""Book files in an S3-compatible bucket (AWS S3, MinIO), shared by web and workers on any host.

Credentials and region come the boto3 way (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, a profile or an instance role). Pillow and reportlab need real files, so
readers get a temporary local copy, streamed to disk one file at a time (memory stays bounded).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.config import Settings
from shared.storage.base import Storage

_MISSING = {"404", "NoSuchKey", "NotFound"}
# Local copies and files waiting to be published, one folder per process: a killed process's
# folder is found by its pid and removed by whoever sweeps next on this host.
SCRATCH = Path(tempfile.gettempdir()) / "talesrunner-s3"


def _scratch() -> Path:
    folder = SCRATCH / str(os.getpid())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3Storage(Storage):
    """books/<id>/… as object keys under an optional prefix in one bucket."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 public_endpoint_url: str | None = None, presign_s: int = 300):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.presign_s = presign_s
        # Retries with backoff on throttling and dropped connections; path-style for MinIO.
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}, signature_version="s3v4",
                        connect_timeout=5, read_timeout=30, max_pool_connections=20)
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)
        self._public_endpoint = public_endpoint_url
        self._presigner: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        if not settings.TALES_S3_BUCKET:
            raise ValueError("TALES_STORAGE=s3 needs TALES_S3_BUCKET (and TALES_S3_ENDPOINT_URL for MinIO)")
        return cls(settings.TALES_S3_BUCKET, settings.TALES_S3_PREFIX, settings.TALES_S3_ENDPOINT_URL,
                   settings.TALES_S3_PUBLIC_ENDPOINT_URL, settings.TALES_S3_PRESIGN_S)

    def key(self, name: str) -> str:
        return self.prefix + self.check_name(name)

    def write_bytes(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as body:
            return body.read()

    def _head(self, name: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise

    def exists(self, name: str) -> bool:
        return self._head(name) is not None

    def size(self, name: str) -> int | None:
        head = self._head(name)
        return None if head is None else int(head["ContentLength"])

    def _get(self, name: str) -> dict:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(name) from None
            raise

    def open(self, name: str) -> BinaryIO:
        return self._get(name)["Body"]

    def open_with_size(self, name: str) -> tuple[BinaryIO, int]:
        answer = self._get(name)
        return answer["Body"], int(answer["ContentLength"])

    def _download(self, key: str, target: Path, modified=None) -> None:
        self.client.download_file(self.bucket, key, str(target))
        if modified is not None:
            # The object's own time, so caches keyed on a file's mtime (print copies) stay valid
            # across downloads of the same object.
            stamp = modified.timestamp()
            os.utime(target, (stamp, stamp))

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        head = self._head(name)
        if head is None:
            raise FileNotFoundError(name)
        folder = Path(tempfile.mkdtemp(dir=_scratch()))
        try:
            target = folder / Path(name).name
            self._download(self.key(name), target, head["LastModified"])
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _list(self, prefix: str) -> Iterator[dict]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.key(prefix) + "/")
        for page in pages:
            yield from page.get("Contents", [])

    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp(dir=_scratch()))
        try:
            present = {}
            for item in self._list(prefix):
                relative = item["Key"].removeprefix(self.key(prefix) + "/")
                if "/" in relative or relative.startswith(".tmp-"):
                    continue
                self._download(item["Key"], folder / relative, item["LastModified"])
                present[relative] = item["Size"]
            yield folder
            for path in folder.iterdir():
                if path.is_file() and not path.name.startswith(".tmp-") and present.get(path.name) != path.stat().st_size:
                    self.client.upload_file(str(path), self.bucket, f"{self.key(prefix)}/{path.name}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def temp_path_for(self, name: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=_scratch(), suffix=Path(self.check_name(name)).suffix)
        os.close(fd)
        return Path(tmp)

    def publish(self, temp: Path, name: str) -> None:
        # One PUT (multipart only past 8 MB, completed at once): readers see the old object or the new one.
        self.client.upload_file(str(temp), self.bucket, self.key(name))
        temp.unlink(missing_ok=True)

    def delete_book(self, book_id: str) -> None:
        keys = [{"Key": item["Key"]} for item in self._list(self.book_prefix(book_id))]
        for start in range(0, len(keys), 1000):  # the API's batch limit
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})

    def remove(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))  # no error for a missing key

    def files_under(self, prefix: str) -> list[tuple[str, datetime]]:
        found = ((item["Key"].removeprefix(self.prefix), item["LastModified"].astimezone(UTC).replace(tzinfo=None))
                 for item in self._list(prefix))
        return sorted((name, stamp) for name, stamp in found if "/" not in name.removeprefix(prefix + "/"))

    def stored_books(self) -> Iterator[tuple[str, datetime]]:
        newest: dict[str, datetime] = {}
        for item in self._list("books"):
            book_id = item["Key"].removeprefix(self.key("books") + "/").split("/", 1)[0]
            stamp = item["LastModified"].astimezone(UTC).replace(tzinfo=None)
            newest[book_id] = max(stamp, newest.get(book_id, stamp))
        yield from newest.items()

    def remove_stale_scratch(self) -> int:
        removed = 0
        for folder in SCRATCH.glob("*"):
            if folder.name.isdigit() and not _alive(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def presigned_url(self, name: str, filename: str, content_type: str) -> str | None:
        if self._presigner is None:
            self._presigner = (
                boto3.session.Session().client("s3", endpoint_url=self._public_endpoint,
                                               config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
                if self._public_endpoint else self.client
            )
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key(name), "ResponseContentType": content_type,
                    "ResponseContentDisposition": _disposition(filename)},
            ExpiresIn=self.presign_s,
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (tests, first start against an empty MinIO)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


def _disposition(filename: str) -> str:
    """An attachment header any client reads: an ASCII fallback name, and the real one RFC 5987-encoded (Korean titles)."""
    fallback = filename.encode("ascii", "ignore").decode().replace('"', "").strip() or "talesrunner"
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
    fallback = fallback if fallback != suffix and not fallback.startswith(".") else f"talesrunner{suffix}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
