"""The worker's Prometheus metrics and log context: stage durations, retries, failures; request ids.

Each Celery worker serves its metrics on TALES_WORKER_METRICS_PORT (one port per worker; its
prefork children write to the worker's multiprocess folder, see shared/metrics.py).
"""
from __future__ import annotations

import logging
import os
import time

from celery.signals import task_postrun, task_prerun, task_retry, worker_process_shutdown, worker_ready
from prometheus_client import Counter, Histogram

from shared import logging as logs
from shared.config import get_settings
from shared.jobs import REQUEST_ID_HEADER
from shared.metrics import mark_dead, registry

log = logging.getLogger(__name__)

STAGE_SECONDS = Histogram("talesrunner_stage_seconds", "Time one pipeline stage took for one book",
                          ["stage", "outcome"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))
TASK_RETRIES = Counter("talesrunner_task_retries_total", "Tasks scheduled again after a transient fault", ["task"])
TASK_FAILURES = Counter("talesrunner_task_failures_total", "Tasks that gave up: the book or the email failed", ["task"])
TASKS = Counter("talesrunner_tasks_total", "Tasks run by this worker", ["task"])


def short_name(task_name: str) -> str:
    return task_name.rsplit(".", 1)[-1]


@task_prerun.connect
def _task_started(task_id=None, task=None, args=None, **_kwargs) -> None:
    # The request that caused this task (a header set by send_now) goes on every log line it writes,
    # and on the messages it sends next.
    logs.request_id.set(getattr(task.request, REQUEST_ID_HEADER, None))
    logs.task_id.set(task_id)
    task.request.talesrunner_started = time.perf_counter()
    TASKS.labels(short_name(task.name)).inc()
    log.info("task %s started", short_name(task.name), extra={"task": task.name, "task_args": list(args or [])})


@task_postrun.connect
def _task_finished(task=None, state=None, **_kwargs) -> None:
    started = getattr(task.request, "talesrunner_started", None)
    seconds = round(time.perf_counter() - started, 4) if started else None
    log.info("task %s finished: %s", short_name(task.name), state, extra={"task": task.name, "seconds": seconds})
    logs.request_id.set(None)
    logs.task_id.set(None)


@task_retry.connect
def _task_retried(sender=None, **_kwargs) -> None:
    TASK_RETRIES.labels(short_name(sender.name)).inc()


@worker_ready.connect
def _serve_metrics(**_kwargs) -> None:
    port = get_settings().TALES_WORKER_METRICS_PORT
    if not port:
        return
    from prometheus_client import start_http_server

    # The solo pool's own process and every prefork child write to this worker's folder.
    start_http_server(port, registry=registry())
    log.info("worker metrics on port %d", port)


@worker_process_shutdown.connect
def _forget_child(**_kwargs) -> None:
    mark_dead(os.getpid())
