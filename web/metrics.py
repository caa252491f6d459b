"""GET /metrics (Prometheus, for a bearer token only) and the per-request bookkeeping: request id, route, status, latency."""
from __future__ import annotations

import hmac
import logging
import time

import redis
from flask import Blueprint, Flask, Response, abort, g, request
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from shared import logging as logs
from shared.config import Settings
from shared.db import session_factory
from shared.jobs import Queue
from shared.metrics import scrape
from shared.models import Book
from shared.status import BookStatus

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

REQUESTS = Counter("talesrunner_http_requests_total", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("talesrunner_http_request_seconds", "Time to answer an HTTP request, by route",
                    ["method", "route"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# gunicorn accepts any token of 3-20 letters as a method: each would be a new series, so the rest
# are counted together as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# kombu's Redis transport keeps a queue's messages in a list named after it, plus one list per
# priority step ("gpu\x06\x163"): the queue's depth is their sum.
_PRIORITY_STEPS = (0, 3, 6, 9)
_PRIORITY_SEP = "\x06\x16"


class StateCollector:
    """Computed at scrape time: books by status (database) and messages waiting per queue (Redis)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def collect(self):
        # A database or broker that is down leaves its family out; the request counters still scrape.
        try:
            yield self._books()
        except Exception:
            log.warning("metrics: could not count books", exc_info=True)
        try:
            yield self._queues()
        except Exception:
            log.warning("metrics: could not read queue depths", exc_info=True)

    def _books(self) -> GaugeMetricFamily:
        books = GaugeMetricFamily("talesrunner_books", "Books by status", labels=["status"])
        with session_factory(self.settings.DATABASE_URL)() as session:
            counts = dict(session.execute(select(Book.status, func.count()).group_by(Book.status)).all())
        for status in BookStatus:
            books.add_metric([status.value], counts.get(status, 0))
        return books

    def _queues(self) -> GaugeMetricFamily:
        depth = GaugeMetricFamily("talesrunner_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
        client = redis.Redis.from_url(self.settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        pipe = client.pipeline(transaction=False)
        for queue in Queue:
            for step in _PRIORITY_STEPS:
                pipe.llen(queue.value if not step else f"{queue.value}{_PRIORITY_SEP}{step}")
        lengths = pipe.execute()
        steps = len(_PRIORITY_STEPS)
        for number, queue in enumerate(Queue):
            depth.add_metric([queue.value], sum(lengths[number * steps:(number + 1) * steps]))
        return depth


def scraper_has_the_token(token: str) -> bool:
    """True when the request carries `Authorization: Bearer <token>` (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def metrics():
    """Prometheus text format: every gunicorn worker's counters, plus books and queues now."""
    from flask import current_app

    settings = current_app.extensions["talesrunner.settings"]
    # The same port serves the pages: anyone without the token sees no metrics, and no sign of them.
    if not scraper_has_the_token(settings.TALES_METRICS_TOKEN):
        abort(404)
    body = scrape(StateCollector(settings))
    response = Response(body, mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def _start() -> None:
    g.started = time.perf_counter()
    g.request_id = logs.new_request_id(request.headers.get("X-Request-ID"))
    g.request_id_token = logs.request_id.set(g.request_id)


def method_label(method: str) -> str:
    """The request's method as a label value: one of METHODS, or "other"."""
    return method if method in METHODS else "other"


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"  # templates, not raw paths
    method = method_label(request.method)
    if "started" in g:
        LATENCY.labels(method, route).observe(time.perf_counter() - g.started)
    REQUESTS.labels(method, route, str(response.status_code)).inc()
    return response


def _reset(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        logs.request_id.reset(token)


def init_app(app: Flask) -> None:
    """Request ids on every request and response; /metrics when TALES_METRICS_TOKEN is set (and not turned off)."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_reset)
    settings = app.extensions["talesrunner.settings"]
    if settings.TALES_METRICS_ENABLED and settings.TALES_METRICS_TOKEN:
        app.register_blueprint(bp)
