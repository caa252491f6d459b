"""The Celery worker: `celery -A worker worker -Q gpu` (models) or `-Q cpu` (PDF, email)."""
from __future__ import annotations

from celery import signals

from shared.config import get_settings, refuse_weak_secret_key
from shared.jobs import make_celery

celery = make_celery(get_settings(), "worker")
# Task modules are imported when a worker starts, not when the web tier imports this package.
celery.conf.imports = ("worker.tasks", "worker.account_mail")
app = celery


@signals.celeryd_init.connect
def _refuse_weak_secret_key(**_: object) -> None:
    """A worker signs the links mailed to parents: `celery -A worker worker` stops here without a real SECRET_KEY."""
    # Checked as the worker program starts, not on import: tests, Flower and the CLI import this package too.
    refuse_weak_secret_key(get_settings(), "celery worker", exit_code=2)
