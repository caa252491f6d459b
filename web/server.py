"""The production web server: gunicorn running `create_app()`, configured from the settings.

gthread workers (a few threads each) so a slow client or a long upload does not hold a whole
process; SIGHUP reloads gracefully (new workers start, old ones finish their requests), SIGTERM
stops after the requests in flight. Access and error logs go through shared.logging.
"""
from __future__ import annotations

import functools
import json
import selectors
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from shared import logging as logs
from shared.config import Settings, cpu_count
from shared.metrics import mark_dead

ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus rid=%({x-request-id}o)s'


def default_workers(cores: int | None = None) -> int:
    """Worker processes from the core count: one per core, at least two (a reload or a crash keeps one serving)."""
    return max(2, cores or cpu_count())


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 0  # 0: default_workers()
    threads: int = 0  # 0: TALES_WEB_THREADS


def gunicorn_config(settings: Settings, options: ServerOptions) -> dict[str, Any]:
    """gunicorn settings for this deployment (also what bench/poll.py serves its hello app with)."""
    return {
        "bind": [f"{options.host}:{options.port}"],
        "workers": options.workers or settings.TALES_WEB_WORKERS or default_workers(),
        "threads": options.threads or settings.TALES_WEB_THREADS,
        "worker_class": "web.server.DrainingThreadWorker",
        "timeout": settings.TALES_WEB_TIMEOUT,
        "graceful_timeout": settings.TALES_WEB_GRACEFUL_TIMEOUT,
        "keepalive": settings.TALES_WEB_KEEPALIVE,
        "max_requests": settings.TALES_WEB_MAX_REQUESTS,
        "max_requests_jitter": settings.TALES_WEB_MAX_REQUESTS // 10,
        "accesslog": "-" if settings.TALES_ACCESS_LOG else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "logconfig_dict": logs.gunicorn_logconfig(settings),
        "proc_name": "talesrunner-web",
        # Behind TALES_TRUSTED_PROXIES the app's ProxyFix reads X-Forwarded-*; gunicorn itself trusts no one.
        "forwarded_allow_ips": "127.0.0.1",
        "child_exit": lambda _server, worker: mark_dead(worker.pid),
    }


# Requests gunicorn refuses before the app sees them, answered in the API's error shape (the
# stock answer is an HTML page that echoes the parser's message).
PARSE_ERRORS: list[tuple[type[Exception], int, str, str, str]] = [
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "request_header_fields_too_large",
     "the request's headers are too large"),
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long", "the request line is too long"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "not_implemented",
     "the transfer coding is not supported"),
    (http_errors.ParseException, 400, "Bad Request", "bad_request", "the request is not valid HTTP"),
]


def parse_error_response(exc: Exception) -> bytes | None:
    """The raw HTTP answer to a request gunicorn could not parse, as JSON; None for other errors."""
    if isinstance(exc, (http_errors.ConfigurationProblem, http_errors.ForbiddenProxyRequest, http_errors.NoMoreData)):
        return None
    for kind, status, reason, code, message in PARSE_ERRORS:
        if isinstance(exc, kind):
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            return head.encode("latin-1") + body
    return None


class DrainingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a graceful stop (reload, SIGTERM) serves what it accepted.

    The stock worker leaves its loop at once and closes connections it has accepted but not
    yet read from: a client that connected just then gets a reset. This one stops listening
    first, then answers those connections (with Connection: close) and lets requests in
    progress finish, within graceful_timeout; idle keep-alive connections are closed.
    """

    def handle_error(self, req, client, addr, exc) -> None:
        answer = parse_error_response(exc)
        if answer is None:
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, answer)
        except OSError:
            self.log.debug("Failed to send error message.")

    def run(self) -> None:
        # gthread's own loop (gunicorn 23), then _drain instead of dropping accepted connections.
        for sock in self.sockets:
            sock.setblocking(False)
            server = sock.getsockname()
            self.poller.register(sock, selectors.EVENT_READ, functools.partial(self.accept, server))
        while self.alive:
            self.notify()
            if self.nr_conns < self.worker_connections:
                for key, _ in self.poller.select(1.0):
                    key.data(key.fileobj)
                result = futures.wait(self.futures, timeout=0, return_when=futures.FIRST_COMPLETED)
            else:
                result = futures.wait(self.futures, timeout=1.0, return_when=futures.FIRST_COMPLETED)
            for fut in result.done:
                self.futures.remove(fut)
            if not self.is_parent_alive():
                break
            self.murder_keepalived()
        self._drain()
        self.tpool.shutdown(False)
        self.poller.close()

    def _drain(self) -> None:
        for sock in self.sockets:
            self.poller.unregister(sock)
            sock.close()
        ready = {key.fileobj for key, _ in self.poller.select(0)}
        with self._lock:
            for conn in list(self._keep):
                if conn.sock not in ready:  # idle keep-alive: nothing to answer; close it as gthread would
                    self._keep.remove(conn)
                    self.poller.unregister(conn.sock)
                    self.nr_conns -= 1
                    conn.close()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and (self.poller.get_map() or self.futures):
            for key, _ in self.poller.select(0.05):
                key.data(key.fileobj)
            done, _ = futures.wait(self.futures, timeout=0, return_when=futures.FIRST_COMPLETED)
            for fut in done:
                self.futures.remove(fut)


class WebServer(BaseApplication):
    """gunicorn with its configuration from a dict instead of a config file or argv."""

    def __init__(self, app_factory: Callable[[], Any], config: dict[str, Any]):
        self.app_factory = app_factory
        self.config_values = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.config_values.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        # Built in each worker after the fork: no database or Redis connection crosses a fork.
        return self.app_factory()


def serve(settings: Settings, options: ServerOptions, app_factory: Callable[[], Any] | None = None) -> None:
    """Run gunicorn in the foreground until it is stopped."""
    if app_factory is None:
        from web import create_app as app_factory
    WebServer(app_factory, gunicorn_config(settings, options)).run()
