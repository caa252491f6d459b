"""Where a book's files live: one interface (`Storage`), a local directory or S3-compatible object storage."""
from __future__ import annotations

from shared.config import Settings
from shared.storage.base import LocalStorage, Storage

__all__ = ["LocalStorage", "Storage", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The storage the settings name (TALES_STORAGE)."""
    if settings.TALES_STORAGE == "s3":
        from shared.storage.s3 import S3Storage  # boto3 only where S3 is used

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.DATA_DIR, temp_grace_s=settings.TALES_TEMP_FILE_GRACE_S)
