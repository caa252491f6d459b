"""JSON log lines with the request id that started the work, in the web tier and the workers alike."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings

# The id of the HTTP request that caused what is running now: set per request by the web tier,
# carried in Celery message headers, and set again by the worker around each task.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("talesrunner_request_id", default=None)
task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("talesrunner_task_id", default=None)

# A client may send its own X-Request-ID; anything else than a short token is replaced.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# gunicorn's access log atoms (its `safe_atoms` dict) worth a field of their own.
_ACCESS_FIELDS = {"m": "method", "U": "path", "s": "status", "B": "bytes", "D": "duration_us", "h": "remote"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def new_request_id(offered: str | None = None) -> str:
    """The client's id when it is a sane token, else a fresh one."""
    if offered and _SAFE_ID.match(offered):
        return offered
    return secrets.token_hex(8)


class ContextFilter(logging.Filter):
    """Puts the current request and task ids on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id.get()
        record.task_id = getattr(record, "task_id", None) or task_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            entry.update({field: atoms.get(atom) for atom, field in _ACCESS_FIELDS.items()})
            if str(entry.get("status", "")).isdigit():
                entry["status"] = int(entry["status"])
            entry["request_id"] = atoms.get("{x-request-id}o") or None
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None and key not in entry:
                entry[key] = value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# Libraries whose INFO lines say nothing an operator acts on; their warnings still show.
NOISY_LOGGERS = ("alembic", "botocore", "boto3", "s3transfer", "urllib3", "fontTools")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def make_handler(settings: Settings) -> logging.Handler:
    """A stderr handler in the configured format, with the id filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.TALES_LOG_FORMAT == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    return handler


def configure(settings: Settings) -> None:
    """The root logger writes JSON (or text) lines to stderr; noisy libraries are kept at WARNING."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(settings))
    root.setLevel(settings.TALES_LOG_LEVEL.upper())
    # fontTools' subsetter reports every table it prunes at INFO: about 1.2 MB for a worker's first e-book.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def gunicorn_logconfig(settings: Settings) -> dict[str, Any]:
    """gunicorn's error and access logs through the same handler (a logging dictConfig)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                       "formatter": settings.TALES_LOG_FORMAT, "filters": ["context"]},
        },
        "root": {"handlers": ["stderr"], "level": settings.TALES_LOG_LEVEL.upper()},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
