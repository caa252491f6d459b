"""Queues, task names and routing in one place; enqueueing happens only after commit."""
from __future__ import annotations

import enum
import logging
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared import logging as logs
from shared.config import Settings

log = logging.getLogger(__name__)


class Queue(str, enum.Enum):
    GPU = "gpu"
    CPU = "cpu"


class TaskName(str, enum.Enum):
    CAPTION = "worker.tasks.caption_book"
    SUGGEST = "worker.tasks.suggest_keywords"
    WRITE = "worker.tasks.write_book"
    DRAW = "worker.tasks.draw_pictures"
    NARRATE = "worker.tasks.narrate_book"
    RENDER = "worker.tasks.render_pdf"
    EMAIL = "worker.tasks.send_email"
    PASSWORD_RESET = "worker.tasks.send_password_reset"
    CONFIRM_EMAIL = "worker.tasks.send_email_confirmation"
    RECONCILE = "worker.tasks.reconcile"
    TRANSCRIBE = "worker.tasks.transcribe_audio"


ROUTES: dict[TaskName, Queue] = {
    TaskName.CAPTION: Queue.GPU,
    TaskName.WRITE: Queue.GPU,
    # Read aloud where the models are: a local VITS wants the GPU; espeak-ng and a speech server
    # cost a GPU worker little.
    TaskName.NARRATE: Queue.GPU,
    # Drawing runs where the drawing model is (diffusers); the OpenCV filter costs a GPU worker seconds.
    TaskName.DRAW: Queue.GPU,
    # Spoken hints: Whisper runs where the models are (a speech server costs a GPU worker little).
    TaskName.TRANSCRIBE: Queue.GPU,
    TaskName.SUGGEST: Queue.CPU,
    TaskName.RENDER: Queue.CPU,
    TaskName.EMAIL: Queue.CPU,
    TaskName.PASSWORD_RESET: Queue.CPU,
    TaskName.CONFIRM_EMAIL: Queue.CPU,
    TaskName.RECONCILE: Queue.CPU,
}


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings shared by the web tier (sender) and the workers (docs/architecture.md, "Reliability")."""
    return {
        "broker_url": settings.REDIS_URL,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": Queue.CPU.value,
        "task_routes": {name.value: {"queue": queue.value} for name, queue in ROUTES.items()},
        "worker_hijack_root_logger": False,
        # Publishing gives up in seconds when Redis does not answer (the web tier then says 503).
        "broker_connection_timeout": settings.TALES_BROKER_TIMEOUT_S,
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        "broker_transport_options": {"socket_connect_timeout": settings.TALES_BROKER_TIMEOUT_S},
        # Task events for Flower (the compose file runs it): what runs where, retries, failures.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": {
            "reconcile": {"task": TaskName.RECONCILE.value, "schedule": settings.TALES_RECONCILE_EVERY_S},
        },
    }


def make_celery(settings: Settings, name: str = "talesrunner") -> Celery:
    """A Celery app configured for this deployment."""
    app = Celery(name)
    app.config_from_object(celery_config(settings))
    return app


_PENDING = "talesrunner_pending_jobs"


def enqueue_after_commit(session: Session, celery: Celery, task: TaskName, *args: Any) -> None:
    """Send `task(*args)` once the session's transaction commits; never if it rolls back."""
    session.info.setdefault(_PENDING, []).append((celery, task, args))


REQUEST_ID_HEADER = "talesrunner_request_id"


def send_now(celery: Celery, task: TaskName, *args: Any) -> None:
    """Publish a task message carrying ids only, and the id of the request that caused it in a header."""
    request_id = logs.request_id.get()
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    celery.send_task(task.value, args=list(args), queue=ROUTES[task].value, headers=headers)


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for celery, task, args in pending:
        try:
            send_now(celery, task, *args)
        except Exception:  # the row is committed; the reconciler re-sends lost work
            log.exception("could not enqueue %s%r; the reconciler will retry", task.value, args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
