"""A hostile-input corpus over every route: each request is refused with a 4xx a person can act on.

API answers are JSON errors; pages answer a Korean page (or, for a form on a book's page, send the
person back to it with the problem said). Nothing answers 5xx, no answer carries SQL, driver or
exception text, no file is left behind, and the service is healthy afterwards.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from shared.status import BookStatus
from tests.faults.helpers import user
from tests.helpers import jpeg
from tests.web_helpers import Pages, csrf_token, make_book, user_id

LEAKS = ("Traceback", "psycopg", "sqlalchemy", "SELECT ", "INSERT ", "UPDATE ", "DataError", "RecursionError",
         "OSError", "Werkzeug", "werkzeug")
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header, with almost no pixel data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    whole = jpeg(640, 480)
    return whole[: len(whole) // 2]


@dataclass
class Probe:
    name: str
    method: str
    path: str
    kwargs: dict = field(default_factory=dict)
    page_redirect_ok: bool = False  # a form on a book's page answers 303 back to it with the problem
    clamped_ok: bool = False  # a number out of range is clamped (page 10**20 is the last page), or text cleaned


def images(*files: tuple[bytes, str], book: str | None = None) -> dict:
    data: dict = {"images": [(io.BytesIO(content), name) for content, name in files]}
    if book is not None:
        data["book"] = book
    return {"data": data, "content_type": "multipart/form-data"}


def corpus(book: str, other: str, waiting: str, token: dict, revoked: dict) -> list[Probe]:
    api, good = "/api/v1", (jpeg(), "a.jpg")
    probes: list[Probe] = []
    add = lambda name, method, path, **kwargs: probes.append(Probe(name, method, path, kwargs))  # noqa: E731
    # Accounts.
    for body in (DEEP, DEEP_OBJECT, '{"email": "a@b.co", "password": "x\\u0000yyyyyyyy"}', '{"email": "a\\u0000@b.co", "password": "long enough"}',
                 '{"email": "a@b.co", "password": "\\ud800\\udfffxxxxxx\\ud800"}', '{"email": ["a@b.co"], "password": "long enough"}',
                 '{"email": null, "password": null}', '"just a string"', "[]", "{", '{"email": "a@b.co", "password": "long enough", "admin": true}',
                 '{"email": "' + "a" * 300 + '@b.co", "password": "long enough"}', '{"password": "' + "p" * 10_000 + '", "email": "a@b.co"}'):
        add(f"signup {body[:30]!r}", "post", f"{api}/users", data=body, content_type="application/json")
        add(f"token {body[:30]!r}", "post", f"{api}/tokens", data=body, content_type="application/json")
    add("signup bad utf-8", "post", f"{api}/users", data=b'{"email": "\xff\xfe@b.co", "password": "long enough"}', content_type="application/json")
    add("signup 1 MB body", "post", f"{api}/users", data='{"email": "a@b.co", "password": "' + "x" * 1_000_000 + '"}', content_type="application/json")
    add("signup form not json", "post", f"{api}/users", data={"email": "a@b.co", "password": "long enough"})
    # Book creation.
    nested_book = '{"title": ' * 50_000 + '"x"' + "}" * 50_000
    for name, kwargs in [
        ("no images", images()),
        ("empty image", images((b"", "a.jpg"))),
        ("text named jpg", images((b"hello, not a photo", "a.jpg"))),
        ("truncated jpeg", images((truncated_jpeg(), "a.jpg"))),
        ("png bomb header 7740", images((png_header(7740, 7740), "bomb.png"))),
        ("png bomb header 60000", images((png_header(60_000, 60_000), "bomb.png"))),
        ("png over the decode budget", images((png_header(6000, 6000), "big.png"))),
        ("eleven images", images(*[good] * 11)),
        ("deep book json", images(good, book=DEEP)),
        ("deep book object", images(good, book=nested_book)),
        ("book not json", images(good, book="{title:")),
        ("book a list", images(good, book="[1, 2]")),
        ("book invalid utf-8", {"data": {"images": [(io.BytesIO(jpeg()), "a.jpg")], "book": b'{"title": "\xff\xfe"}'}, "content_type": "multipart/form-data"}),
        ("NUL in title", images(good, book='{"title": "a\\u0000b"}')),
        ("control char in title", images(good, book='{"title": "a\\u0007b"}')),
        ("lone surrogate in title", images(good, book='{"title": "\\ud800"}')),
        ("NUL in hint", images(good, book=json.dumps({"scenes": [{"name": "a\u0000", "i_action": "b", "classification": "자연탐구"}]}))),
        ("NUL in optional hint", images(good, book=json.dumps({"scenes": [{"name": "a", "i_action": "b", "classification": "자연탐구", "feeling": "x\u0000"}]}))),
        ("1 MB hint", images(good, book=json.dumps({"scenes": [{"name": "a", "i_action": "b", "classification": "자연탐구", "feeling": "x" * 1_000_000}]}))),
        ("bad classification", images(good, book=json.dumps({"scenes": [{"name": "a", "i_action": "b", "classification": "x"}]}))),
        ("scene count mismatch", images(good, book=json.dumps({"scenes": []}))),
        ("extra field", images(good, book='{"owner": 1}')),
        ("title too long", images(good, book=json.dumps({"title": "가" * 201}))),
        ("email_when_done a string", images(good, book='{"email_when_done": "yes please"}')),
    ]:
        add(f"create: {name}", "post", f"{api}/books", **kwargs)
    # Listing and ids.
    for page in ("10" + "0" * 20, str(2**62), str(2**63), "-1", "abc", "1e9", "\x00"):
        probes.append(Probe(f"list page={page[:12]!r}", "get", f"{api}/books?page={page}", clamped_ok=True))
    probes.append(Probe("list per_page huge", "get", f"{api}/books?per_page=" + "9" * 30, clamped_ok=True))
    for book_id in ("a%00b", "%00", "../../etc/passwd", "a" * 33, "A" * 32, "zz" * 16, "가나다", "'; DROP TABLE books; --", other):
        for suffix in ("", "/pdf", "/scenes/1/image"):
            add(f"get {book_id[:12]!r}{suffix}", "get", f"{api}/books/{book_id}{suffix}")
        add(f"delete {book_id[:12]!r}", "delete", f"{api}/books/{book_id}")
    # Annotations, edits, emails.
    for body in (DEEP, '{"scenes": "all"}', '{"scenes": []}', json.dumps({"scenes": [{"name": "\u0000", "i_action": "b", "classification": "자연탐구"}] * 2}),
                 json.dumps({"scenes": [{"name": "a", "i_action": "b", "classification": "자연탐구"}] * 11})):
        add(f"put scenes {body[:20]!r}", "put", f"{api}/books/{waiting}/scenes", data=body, content_type="application/json")
    for body in (DEEP, '{"text": "a\\u0000b"}', '{"text": ""}', '{"text": "' + "가" * 2001 + '"}', '{"text": 5}', '{"text": "\\ud83d"}', "null"):
        add(f"patch text {body[:20]!r}", "patch", f"{api}/books/{book}/scenes/1", data=body, content_type="application/json")
    for index in ("0", "99", "1" + "0" * 30, "-1"):
        add(f"patch scene {index[:8]}", "patch", f"{api}/books/{book}/scenes/{index}", json={"text": "ok"})
        add(f"regenerate scene {index[:8]}", "post", f"{api}/books/{book}/scenes/{index}/regenerate")
    for body in (DEEP, '{"to": "not an email"}', '{"to": "a@b.co\\r\\nBcc: x@y.co"}', '{"to": "a\\u0000@b.co"}', '{"to": 1}', '{"cc": "a@b.co"}'):
        add(f"email {body[:20]!r}", "post", f"{api}/books/{book}/email", data=body, content_type="application/json")
    add("generate done book", "post", f"{api}/books/{book}/generate")
    add("retry done book", "post", f"{api}/books/{book}/retry")
    add("pdf of a waiting book", "get", f"{api}/books/{waiting}/pdf")
    # Methods and auth.
    for path in (f"{api}/books", f"{api}/books/{book}", f"{api}/users", f"{api}/openapi.json", "/healthz"):
        add(f"TRACE {path}", "trace", path)
    add("PUT a book", "put", f"{api}/books/{book}", json={})
    for header in ({"Authorization": "Bearer"}, {"Authorization": "Bearer tr_nope"}, {"Authorization": "Basic YTpi"},
                   {"Authorization": "Bearer " + "x" * 10_000}, {"Authorization": "Bearer tr_\u0000"}, revoked):
        add(f"auth {str(header)[:30]}", "get", f"{api}/books", headers=header)
    return probes


def page_corpus(book: str, other: str, csrf: str) -> list[Probe]:
    probes: list[Probe] = []
    add = lambda name, method, path, redirect_ok=False, clamped=False, **kwargs: probes.append(  # noqa: E731
        Probe(name, method, path, kwargs, redirect_ok, clamped))
    for page in ("10" + "0" * 20, str(2**62), "-5", "x"):
        add(f"/books?page={page[:10]}", "get", f"/books?page={page}", redirect_ok=True, clamped=True)
    for book_id in ("a%00b", "a" * 33, other, "../x"):
        add(f"page {book_id[:10]!r}", "get", f"/books/{book_id}")
        add(f"thumb {book_id[:10]!r}", "get", f"/books/{book_id}/scenes/1/photo-320.jpg")
    add("thumb bad size", "get", f"/books/{book}/scenes/1/photo-1.jpg")
    add("thumb huge index", "get", f"/books/{book}/scenes/{10**30}/photo-320.jpg")
    add("no csrf", "post", f"/books/{book}/delete")
    add("bad csrf", "post", f"/books/{book}/delete", data={"csrf_token": "nope"})
    # Control characters are dropped from a page's text, so text of nothing else is empty: refused.
    add("page text of NULs only", "post", f"/books/{book}/scenes/1/text", redirect_ok=True, data={"csrf_token": csrf, "text": "\x00\x07"})
    add("1 MB page text", "post", f"/books/{book}/scenes/1/text", redirect_ok=True, data={"csrf_token": csrf, "text": "x" * 1_000_000})
    add("email header injection", "post", f"/books/{book}/email", redirect_ok=True,
        data={"csrf_token": csrf, "recipient": "other", "to": "a@b.co\r\nBcc: x@y.co"})
    add("annotations for a done book", "post", f"/books/{book}/annotations", data={"csrf_token": csrf})
    add("new book truncated jpeg", "post", "/books/new", data={"csrf_token": csrf, "title": "t", "hints": "later",
                                                               "images": [(io.BytesIO(truncated_jpeg()), "a.jpg")]}, content_type="multipart/form-data")
    # The form drops control characters from what it keeps (tests/test_browser_form_phone.py), so a NUL
    # no longer refuses the book; with a broken photo beside it the refusal must still leave nothing.
    add("new book NUL title, broken photo", "post", "/books/new", data={"csrf_token": csrf, "title": "a\x00", "hints": "later",
                                                                         "images": [(io.BytesIO(truncated_jpeg()), "a.jpg")]},
        content_type="multipart/form-data")
    add("revoke huge token id", "post", f"/settings/tokens/{10**20}/revoke", data={"csrf_token": csrf})
    add("revoke missing token", "post", "/settings/tokens/999999/revoke", data={"csrf_token": csrf})
    add("token name NUL", "post", "/settings/tokens", clamped=True, data={"csrf_token": csrf, "name": "\x00"})
    add("login NUL", "post", "/login", data={"csrf_token": csrf, "email": "a\x00@b.co", "password": "x\x00" * 5})
    add("signup surrogate-free NUL password", "post", "/signup", data={"csrf_token": csrf, "email": "n@b.co",
                                                                         "password": "p\x00ssword1", "password_confirm": "p\x00ssword1"})
    add("shared link garbage", "get", "/shared/garbage.pdf")
    add("shared link NUL", "get", "/shared/a%00b.pdf")
    add("TRACE a page", "trace", "/books")
    return probes


def _check(probe: Probe, response) -> str | None:
    status = response.status_code
    text = response.get_data(as_text=True)
    leaked = [word for word in LEAKS if word in text]
    if leaked:
        return f"{probe.name}: leaks {leaked}"
    if (probe.page_redirect_ok and status in (302, 303)) or (probe.clamped_ok and status == 200):
        return None
    if not 400 <= status < 500:
        return f"{probe.name}: {status} {text[:200]!r}"
    if probe.path.startswith("/api/") or probe.path == "/healthz":
        body = response.get_json(silent=True) or {}
        error = body.get("error") or {}
        if not (error.get("code") and error.get("message")):
            return f"{probe.name}: {status} without a JSON error: {text[:200]!r}"
    elif "text/html" in response.content_type and "<html" not in text.lower():
        return f"{probe.name}: {status} without a page"
    if status == 405 and "Allow" not in response.headers:
        return f"{probe.name}: 405 without Allow"
    return None


def test_every_hostile_request_is_refused_with_a_4xx_and_nothing_is_left_behind(fault_app, fault_db, fault_env):
    client = fault_app.test_client()
    token = user(client)
    make = lambda email, **kw: make_book(fault_db, fault_env["DATA_DIR"], user_id(fault_db, email), **kw)  # noqa: E731
    book = make("parent@example.com")
    waiting = make("parent@example.com", status=BookStatus.AWAITING_ANNOTATIONS)
    user(client, "other@example.com")
    other = make("other@example.com")
    revoked = user(client, "revoked@example.com")
    browser = fault_app.test_client()
    pages = Pages(browser)
    pages.login("parent@example.com")
    csrf = csrf_token(browser.get(f"/books/{book}").text)
    token_id = browser.post("/settings/tokens", data={"csrf_token": csrf, "name": "temp"})
    assert token_id.status_code == 200
    books_dir = Path(fault_env["DATA_DIR"]) / "books"
    before = sorted(p.name for p in books_dir.iterdir())

    api_probes = corpus(book, other, waiting, token, revoked)
    problems = []
    # Revoke the last user's token through the database, as a person would on the settings page.
    from sqlalchemy import delete

    from shared.db import session_factory
    from shared.models import ApiToken, User

    with session_factory(fault_db).begin() as session:
        revoked_user = session.query(User).filter_by(email="revoked@example.com").one()
        session.execute(delete(ApiToken).where(ApiToken.user_id == revoked_user.id))
    for probe in api_probes:
        kwargs = dict(probe.kwargs)
        headers = {**token, **kwargs.pop("headers", {})}
        response = getattr(client, probe.method)(probe.path, headers=headers, **kwargs) if probe.method != "trace" else \
            client.open(probe.path, method="TRACE", headers=headers)
        problems.append(_check(probe, response))
    page_probes = page_corpus(book, other, csrf)
    for probe in page_probes:
        response = browser.open(probe.path, method=probe.method.upper(), **probe.kwargs)
        problems.append(_check(probe, response))
    problems = [p for p in problems if p]
    assert problems == [], "\n".join(problems)
    assert len(api_probes) + len(page_probes) >= 100
    print(f"\nhostile inputs: {len(api_probes) + len(page_probes)} requests, 0 server errors")

    assert sorted(p.name for p in books_dir.iterdir()) == before  # no refused upload left a folder
    for folder in books_dir.iterdir():
        assert not list(folder.rglob(".tmp-*"))
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/api/v1/books/{book}", headers=token).json["status"] == "done"
