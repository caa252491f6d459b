"""Every entry point refuses a missing or short SECRET_KEY: the app factory, plain gunicorn, plain Celery, the CLI."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

SHORT = "a"
# Each refusal is one line on stderr that names the setting; the rest of the output is the server's own.
SAYS_WHY = ("SECRET_KEY is shorter than 32 characters", "SECRET_KEY is not set")


def _env(service_env: dict[str, str], key: str | None) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", **{name: value for name, value in service_env.items() if name != "SECRET_KEY"}}
    if key is not None:
        env["SECRET_KEY"] = key
    return env


def _refusals(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(why in line for why in SAYS_WHY)]


@pytest.mark.parametrize("key", ["", SHORT, "x" * 31])
def test_the_app_factory_refuses_a_short_or_missing_key(service_env, key, capsys):
    from web import create_app

    with pytest.raises(SystemExit) as stopped:
        create_app({**service_env, "SECRET_KEY": key})
    assert stopped.value.code == 4  # gunicorn's "App failed to load": its master stops, no reboot loop
    assert len(_refusals(capsys.readouterr().err)) == 1


def test_the_app_factory_takes_a_key_of_32_characters(db, service_env):
    from web import create_app

    assert create_app({**service_env, "SECRET_KEY": "k" * 32}).test_client().get("/healthz").status_code == 200


COMMANDS = {
    "gunicorn": [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "web:create_app()"],
    "celery": [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "cpu", "--pool", "solo"],
    "talesrunner web": [sys.executable, "-m", "talesrunner.cli", "web", "--port", "0"],
    "talesrunner worker": [sys.executable, "-m", "talesrunner.cli", "worker", "--queues", "cpu"],
}


@pytest.mark.e2e  # starts a process per case
@pytest.mark.parametrize("entry", list(COMMANDS))
@pytest.mark.parametrize("key", [None, SHORT])
def test_every_entry_point_refuses_to_start_with_a_short_or_missing_key(service_env, entry, key):
    # A server that started would run until the timeout, which fails the test.
    result = subprocess.run(COMMANDS[entry], cwd=REPO, env=_env(service_env, key), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stderr
    refusals = _refusals(result.stderr)
    assert len(refusals) == 1, result.stderr
    assert len(refusals[0]) < 300 and "Traceback" not in result.stderr
    if entry == "gunicorn":
        assert "App failed to load" in result.stderr  # the master stopped rather than booting workers again


@pytest.mark.e2e
def test_the_development_server_signs_with_a_random_key_of_its_own_instead(service_env, tmp_path):
    from tests.servers import WebProcess

    server = WebProcess({**service_env, "SECRET_KEY": SHORT}, tmp_path / "web.log", "--dev")
    try:
        assert "signs with a random one" in server.output()
    finally:
        server.stop()
