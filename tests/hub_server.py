"""A local HTTP server that answers as the Hugging Face hub does for `snapshot_download` (HF_ENDPOINT points at it).

Only the routes huggingface_hub 0.36 uses to fetch a model:

    GET       /api/models/{repo}[/revision/{revision}] model info: {"id", "sha", "siblings": [{"rfilename"}]}
    HEAD, GET /{repo}/resolve/{revision}/{file}        the file, with the headers huggingface_hub checks:
                                                       X-Repo-Commit (the commit), ETag, Content-Length

A revision is `main`, a named one a repo was given, or the commit sha. An unknown repo, revision or
file answers 404 with the X-Error-Code the hub sends (RepoNotFound, RevisionNotFound, EntryNotFound).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    files: dict[str, bytes]
    revisions: tuple[str, ...] = ("main",)

    @property
    def sha(self) -> str:
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name])
        return digest.hexdigest()


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    url: str = ""

    def add(self, repo_id: str, files: dict[str, bytes], revisions: tuple[str, ...] = ("main",)) -> Repo:
        self.repos[repo_id] = Repo(files, revisions)
        return self.repos[repo_id]

    def add_folder(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None,
                   revisions: tuple[str, ...] = ("main",)) -> Repo:
        files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
        return self.add(repo_id, {**files, **(extra or {})}, revisions)

    def downloaded(self, repo_id: str) -> set[str]:
        """The files of a repo that were fetched with GET."""
        marker = f"/{repo_id}/resolve/"
        return {path.split(marker, 1)[1].split("/", 1)[1] for method, path in self.requests
                if method == "GET" and path.startswith(marker)}


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _missing(self, code: str) -> None:
            body = json.dumps({"error": code}).encode()
            self.send_response(404)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        def _repo(self, repo_id: str, revision: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._missing("RepoNotFound")
                return None
            if revision not in (*repo.revisions, repo.sha):
                self._missing("RevisionNotFound")
                return None
            return repo

        def _answer(self) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((self.command, path))
            if path.startswith("/api/models/") and self.command == "GET":
                repo_id, _, revision = path.removeprefix("/api/models/").partition("/revision/")
                repo = self._repo(repo_id, revision or "main")
                if repo is None:
                    return
                body = json.dumps({"_id": repo.sha[:24], "id": repo_id, "modelId": repo_id, "sha": repo.sha,
                                   "private": False, "disabled": False, "gated": False, "tags": [],
                                   "siblings": [{"rfilename": name} for name in sorted(repo.files)]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if "/resolve/" in path:
                repo_id, rest = path.lstrip("/").split("/resolve/", 1)
                revision, _, name = rest.partition("/")
                repo = self._repo(repo_id, revision)
                if repo is None:
                    return
                if name not in repo.files:
                    self._missing("EntryNotFound")
                    return
                data = repo.files[name]
                self.send_response(200)
                self.send_header("X-Repo-Commit", repo.sha)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)
                return
            self._missing("RepoNotFound")

        do_GET = _answer
        do_HEAD = _answer

    return Handler


@contextmanager
def hub_server() -> Iterator[Hub]:
    """A fake hub on 127.0.0.1 (a free port) for the block."""
    hub = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
