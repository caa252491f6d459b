"""The Celery worker: `celery -A worker worker -Q gpu` (models) or `-Q cpu` (PDF, email)."""
from __future__ import annotations

from shared.config import get_settings
from shared.jobs import make_celery

celery = make_celery(get_settings(), "worker")
# Task modules are imported when a worker starts, not when the web tier imports this package.
celery.conf.imports = ("worker.tasks",)
app = celery
