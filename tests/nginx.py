"""Debian's nginx in front of a test server, configured from the compose file's own proxy template.

The template (deploy/nginx/talesrunner.conf.template) and the PROXY_* values are the compose
file's; a test changes only the addresses, the certificate folder and, where it says so, the
client timeout. The main nginx.conf around it (pid, logs, temp folders) is this file's, as the
nginx image's is in compose.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import string
import subprocess
import time
from pathlib import Path

import requests
import yaml

from tests.helpers import REPO
from tests.servers import free_port

TEMPLATE = REPO / "deploy" / "nginx" / "talesrunner.conf.template"
MAKE_CERT = REPO / "deploy" / "make-local-cert.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def compose_proxy_env() -> dict[str, str]:
    """The proxy service's PROXY_* variables in docker-compose.yml, `${NAME:-default}` read as its default."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    values = {}
    for name, value in services["proxy"]["environment"].items():
        default = re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))
        values[name] = default.group(1) if default else str(value)
    return {name: value for name, value in values.items() if name.startswith("PROXY_")}


def render(values: dict[str, str]) -> str:
    """The template with `values` put in, as the nginx image's envsubst does; nginx's own $variables stay."""
    text = string.Template(TEMPLATE.read_text()).safe_substitute(values)
    config = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    left = re.findall(r"\$\{PROXY_\w+\}", config)
    assert not left, f"the template uses variables the compose file does not set: {left}"
    return text


def _main_config(folder: Path) -> str:
    # As root, nginx's workers would drop to `nobody`, who cannot enter pytest's private folders.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
            f"    access_log {folder / 'access.log'};\n{temp}\n    include {folder / 'talesrunner.conf'};\n}}\n")


class Nginx:
    """One nginx master (and worker) with the compose proxy's configuration, in front of `upstream`."""

    def __init__(self, folder: Path, upstream: str, **overrides: str) -> None:
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is not installed: run scripts/setup.sh (it installs Debian's nginx)")
        self.folder = folder
        self.certs = folder / "certs"
        subprocess.run(["bash", str(MAKE_CERT), str(self.certs), "localhost"], check=True, capture_output=True)
        self.http_port, self.https_port = free_port(), free_port()
        self.values = {**compose_proxy_env(), "PROXY_UPSTREAM": upstream, "PROXY_HTTP_PORT": str(self.http_port),
                       "PROXY_HTTPS_PORT": str(self.https_port), "PROXY_CERT_DIR": str(self.certs), **overrides}
        (folder / "talesrunner.conf").write_text(render(self.values))
        self.config = folder / "nginx.conf"
        self.config.write_text(_main_config(folder))
        checked = subprocess.run([NGINX, "-t", "-c", str(self.config), "-p", str(folder)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen([NGINX, "-c", str(self.config), "-p", str(folder)], start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self._wait_ready()

    @property
    def ca(self) -> str:
        """The self-signed certificate, to verify the proxy against."""
        return str(self.certs / "fullchain.pem")

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)

    def error_log(self) -> str:
        return (self.folder / "error.log").read_text(errors="replace")

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.error_log())
            try:
                if requests.get(f"{self.url}/healthz", verify=self.ca, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("nginx did not pass /healthz on:\n" + self.error_log())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
