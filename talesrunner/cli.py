"""`talesrunner db upgrade | web | worker | demo | make-tiny-models | dataset | train | evaluate | models`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _db(args: argparse.Namespace) -> int:
    from migrations import upgrade
    from shared.config import get_settings

    url = get_settings().DATABASE_URL
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url, args.revision)
    print(f"database is at {args.revision}")
    return 0


def _refused(command: str) -> bool:
    """True, after saying why on one line, when a server must not start with this SECRET_KEY."""
    from shared.config import get_settings, secret_key_refusal

    reason = secret_key_refusal(get_settings())
    if reason is not None:
        print(f"talesrunner {command}: {reason}", file=sys.stderr)
    return reason is not None


def _random_key_for_this_run(command: str) -> None:
    """Without a SECRET_KEY of its own, a development server signs with a random one, forgotten when it stops."""
    import os
    import secrets

    from shared.config import get_settings, secret_key_refusal

    if secret_key_refusal(get_settings()) is not None:
        print(f"talesrunner {command}: no usable SECRET_KEY, so this run signs with a random one "
              "(sessions end when it stops)", file=sys.stderr)
        os.environ["SECRET_KEY"] = secrets.token_hex(32)
        get_settings.cache_clear()


def _web(args: argparse.Namespace) -> int:
    from shared.config import get_settings

    if args.dev:
        from web import create_app

        _random_key_for_this_run("web --dev")
        # Werkzeug's development server: one process, for a laptop; never for real traffic.
        create_app().run(host=args.host, port=args.port, threaded=True, use_reloader=False)
        return 0
    if _refused("web"):
        return 2
    from shared.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir("web")  # before prometheus_client is imported by the app
    from web.server import ServerOptions, serve

    serve(get_settings(), ServerOptions(host=args.host, port=args.port, workers=args.workers, threads=args.threads))
    return 0


def worker_pool(queues: list[str]) -> str:
    """The Celery pool for these queues.

    A worker serving `gpu` runs `solo`: one process that loads the models once and keeps
    them, with no fork after CUDA is initialised (CUDA does not survive fork) and no
    `worker_process_init` time limit on loading. CPU-only workers use prefork.
    """
    return "solo" if "gpu" in queues else "prefork"


def _worker(args: argparse.Namespace) -> int:
    if _refused("worker"):  # workers sign the links mailed to parents
        return 2
    from shared.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir("worker")  # before prometheus_client is imported by the tasks
    from worker import celery

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - {"gpu", "cpu"}
    if unknown:
        print(f"unknown queue(s): {', '.join(sorted(unknown))}; use gpu and/or cpu", file=sys.stderr)
        return 2
    pool = worker_pool(queues)
    argv = ["worker", "-Q", ",".join(queues), "--pool", pool, "--loglevel", args.loglevel]
    if pool != "solo":
        argv += ["--concurrency", str(args.concurrency)]
    if args.beat:
        argv += ["--beat", "--schedule", beat_schedule(args.schedule)]
    celery.worker_main(argv)
    return 0


def beat_schedule(path: str | None) -> str:
    """The beat's schedule file, its folder made: celery's shelve cannot create one, and its scheduler
    crashed on a fresh clone (no `instance/`), leaving the worker running without its reconciler."""
    from shared.config import INSTANCE_DIR

    schedule = Path(path) if path else INSTANCE_DIR / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return str(schedule)


def _demo(args: argparse.Namespace) -> int:
    from talesrunner.demo import run_demo

    return run_demo(timeout=args.timeout)


def _tiny(args: argparse.Namespace) -> int:
    from worker.ml.tiny import make_tiny_models

    for path in make_tiny_models(args.directory):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talesrunner", description="Photos + hints -> a Korean picture book (PDF).")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    up = db_commands.add_parser("upgrade", help="apply migrations to DATABASE_URL")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_db)

    web = commands.add_parser("web", help="serve the web tier (gunicorn; --dev for the Werkzeug development server)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=5000)
    web.add_argument("--workers", type=int, default=0, help="gunicorn worker processes (default: TALES_WEB_WORKERS, else from the core count)")
    web.add_argument("--threads", type=int, default=0, help="threads per worker (default: TALES_WEB_THREADS)")
    web.add_argument("--dev", action="store_true", help="Werkzeug's development server instead of gunicorn")
    web.set_defaults(func=_web)

    worker = commands.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", default="gpu,cpu", help="gpu (captions, writing) and/or cpu (PDF, email)")
    worker.add_argument("--concurrency", type=int, default=2, help="processes for a cpu-only worker")
    worker.add_argument("--beat", action="store_true", help="also run the periodic reconciler (one per deployment)")
    worker.add_argument("--schedule", default=None, help="the beat's schedule file (default: instance/celerybeat-schedule in the checkout)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=_worker)

    demo = commands.add_parser("demo", help="sample scenes -> PDF through the real web tier, queue and worker")
    demo.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the book")
    demo.set_defaults(func=_demo)

    tiny = commands.add_parser("make-tiny-models", help="write small random-weight BLIP, KoT5, translator, VITS, drawing and Whisper models (offline)")
    tiny.add_argument("directory")
    tiny.set_defaults(func=_tiny)

    from training.commands import add_commands  # argparse only; each command imports its models late

    add_commands(commands)

    from talesrunner.models_cli import add_commands as add_model_commands

    models = commands.add_parser("models", help="model folders: import a training checkpoint, fetch the hub models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    add_model_commands(model_commands)  # `models import`, `models fetch`
    from talesrunner.ct2_cli import add_command as add_convert_command

    add_convert_command(model_commands)  # `models convert` (CTranslate2)
    return parser


def main(argv: list[str] | None = None) -> int:
    from shared import logging as logs
    from shared.config import get_settings

    logs.configure(get_settings())
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
