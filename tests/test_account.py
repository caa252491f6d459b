"""Account basics: change the password, reset a forgotten one by email, delete the account; sender and note on mails."""
from __future__ import annotations

import base64
import re
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from sqlalchemy import inspect, select

from shared.config import Settings
from shared.db import session_factory
from shared.models import ApiToken, Base, DeadLetter, EmailRequest, LoginSession, User
from shared.status import BookStatus
from tests.mailbox import drain, wait_mail
from tests.web_helpers import PASSWORD, Pages, confirm_email, make_book, user_id
from worker import mailer

PUBLIC_URL = "http://books.test"
NEW_PASSWORD = "a brand new secret"


@pytest.fixture
def app(db, service_env, spare_redis_url):
    """The web app with its messages going to a Redis database no worker reads."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url})


@pytest.fixture
def pages(client) -> Pages:
    return Pages(client)


def browser(app) -> Pages:
    """Another browser: its own cookies."""
    return Pages(app.test_client())


# Password change -------------------------------------------------------------------------------

def test_changing_the_password_refuses_the_old_one_and_signs_out_other_browsers(app, pages, client, db):
    pages.signup()
    laptop = browser(app)
    assert laptop.login().status_code == 302
    assert laptop.client.get("/settings").status_code == 200
    script = api_token(client)

    wrong = pages.post("/settings/password", {"current_password": "not my password", "password": NEW_PASSWORD,
                                              "password_confirm": NEW_PASSWORD}, page="/settings")
    assert wrong.status_code == 400 and "지금 비밀번호가 맞지 않아요" in wrong.text
    short = pages.post("/settings/password", {"current_password": PASSWORD, "password": "short", "password_confirm": "short"},
                       page="/settings")
    assert short.status_code == 400 and "8자 이상" in short.text
    assert laptop.client.get("/settings").status_code == 200  # nothing changed yet

    changed = pages.post("/settings/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                                "password_confirm": NEW_PASSWORD}, page="/settings")
    assert changed.status_code == 303
    settings_page = client.get("/settings").text  # this browser stays signed in, and is told what else ended
    assert "비밀번호를 바꿨어요" in settings_page and "다른 기기의 로그인과 API 토큰은 모두 끝났어요" in settings_page
    assert laptop.client.get("/settings").status_code == 302  # the other one is signed out
    with session_factory(db)() as session:
        assert len(session.scalars(select(LoginSession).where(LoginSession.user_id == user_id(db, "parent@example.com"))).all()) == 1

    assert browser(app).login().status_code == 401
    assert browser(app).login(password=NEW_PASSWORD).status_code == 302
    # Whoever knew the old password may have made a token with it: every token ends with the password.
    assert app.test_client().get("/api/v1/books", headers=script).status_code == 401
    with session_factory(db)() as session:
        assert session.scalars(select(ApiToken)).all() == []


def api_token(client) -> dict[str, str]:
    """The Authorization header of a fresh API token of the parent's account."""
    made = client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.get_json()['token']}"}


# Account deletion ------------------------------------------------------------------------------

def _everything_of(db_url: str, user: int, book_ids: list[str], email: str) -> list[str]:
    """Every row, in every table, that names the user, their email or one of their books."""
    found = []
    engine = session_factory(db_url).kw["bind"]
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()).mappings():
                for column, value in row.items():
                    if column == "user_id" or (table.name == "users" and column == "id"):
                        if value == user:
                            found.append(f"{table.name}.{column}")
                    elif isinstance(value, str) and (email in value or any(book in value for book in book_ids)):
                        found.append(f"{table.name}.{column}")
        # Tables the models do not know (added by a migration) are looked at too.
        known = {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}
        assert set(inspect(connection).get_table_names()) <= known
    return found


def _files_of(data_dir: Path, book_id: str) -> list[Path]:
    return [path for path in (data_dir / "books" / book_id).rglob("*") if path.is_file()]


def test_deleting_the_account_removes_every_row_and_file_and_leaves_others_alone(app, pages, client, db, data_dir):
    pages.signup()
    me = user_id(db, "parent@example.com")
    mine = [make_book(db, data_dir, me, title="우리 책"), make_book(db, data_dir, me, scenes=3)]
    other_browser = browser(app)
    other_browser.signup("neighbour@example.com")
    theirs = make_book(db, data_dir, user_id(db, "neighbour@example.com"), title="이웃 책")
    confirm_email(db)
    # A thumbnail, a token, a mail request, a dead letter and a second session of mine.
    assert client.get(f"/books/{mine[0]}/scenes/1/photo-320.jpg").status_code == 200
    pages.post("/settings/tokens", {"name": "노트북"}, page="/settings")
    pages.post(f"/books/{mine[0]}/email", {"recipient": "other", "to": "grandma@example.com", "sender_name": "민지 엄마"},
               page=f"/books/{mine[0]}")
    laptop = browser(app)
    laptop.login()
    with session_factory(db).begin() as session:
        session.add(DeadLetter(kind="book", ref=mine[1], task="worker.tasks.render_pdf", reason="test"))
        [request_id] = session.scalars(select(EmailRequest.id).where(EmailRequest.book_id == mine[0]))
        session.add(DeadLetter(kind="email", ref=str(request_id), task="worker.tasks.send_email", reason="test"))
    assert all(_files_of(data_dir, book) for book in [*mine, theirs])
    assert any("thumbs" in path.parts for path in _files_of(data_dir, mine[0]))
    assert _everything_of(db, me, mine, "parent@example.com")

    refused = pages.post("/settings/delete", {"delete_password": "not my password"}, page="/settings")
    assert refused.status_code == 400 and "계정을 지우지 않았어요" in refused.text
    assert client.get(f"/books/{mine[0]}").status_code == 200

    settings_page = client.get("/settings").text
    assert "되돌릴 수 없어요" in settings_page
    deleted = pages.post("/settings/delete", {"delete_password": PASSWORD}, page="/settings")
    assert deleted.status_code == 303 and deleted.location == "/login"
    assert "계정과 모든 그림책, 사진을 지웠어요" in client.get("/login").text

    assert _everything_of(db, me, mine, "parent@example.com") == []
    assert all(not (data_dir / "books" / book).exists() for book in mine)
    assert _files_of(data_dir, theirs) and other_browser.client.get(f"/books/{theirs}").status_code == 200
    assert client.get("/settings").status_code == 302 and laptop.client.get("/settings").status_code == 302
    assert browser(app).login().status_code == 401


def test_api_users_can_delete_their_account_with_their_password(client, api, db, data_dir):
    headers = api.user()
    book = make_book(db, data_dir, user_id(db, "parent@example.com"))
    others = api.user("neighbour@example.com")

    assert client.delete("/api/v1/users/me", headers=headers, json={}).status_code == 400
    wrong = client.delete("/api/v1/users/me", headers=headers, json={"password": "not my password"})
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "wrong_password"
    assert client.get(f"/api/v1/books/{book}", headers=headers).status_code == 200

    assert client.delete("/api/v1/users/me", headers=headers, json={"password": PASSWORD}).status_code == 204
    assert client.get("/api/v1/books", headers=headers).status_code == 401  # the token went with the account
    assert not (data_dir / "books" / book).exists()
    with session_factory(db)() as session:
        assert session.scalars(select(User.email)).all() == ["neighbour@example.com"]
        assert len(session.scalars(select(ApiToken)).all()) == 1
    assert client.get("/api/v1/books", headers=others).status_code == 200

    spec = client.get("/api/v1/openapi.json").json
    assert "403" in spec["paths"]["/users/me"]["delete"]["responses"]
    assert {"sender_name", "note"} <= set(spec["components"]["schemas"]["EmailBook"]["properties"])


# Sender name and note, and header injection ----------------------------------------------------

def test_an_injected_sender_name_is_refused_by_the_page_and_the_api(app, pages, client, api, db, data_dir):
    pages.signup()
    book = make_book(db, data_dir, user_id(db, "parent@example.com"))
    for name, note in [("할머니\r\nBcc: victim@example.com", None), ("민지 엄마", "x" * 501), ("민지 엄마", "안녕\x00하세요")]:
        form = {"recipient": "other", "to": "grandma@example.com", "sender_name": name, "note": note or ""}
        refused = pages.post(f"/books/{book}/email", form, page=f"/books/{book}", follow_redirects=True)
        assert "확인해 주세요" in refused.text or "적어 주세요" in refused.text
    headers = {"Authorization": client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]}
    headers["Authorization"] = "Bearer " + headers["Authorization"]
    refused = client.post(f"/api/v1/books/{book}/email", headers=headers,
                          json={"to": "grandma@example.com", "sender_name": "x\nBcc: victim@example.com"})
    assert refused.status_code == 400 and refused.json["error"]["field"] == "sender_name"
    with session_factory(db)() as session:
        assert session.scalars(select(EmailRequest)).all() == []


@pytest.mark.parametrize("hidden", ["\r\nContent-Type: text/html\r\n\r\n<a href='http://evil.test'>", "\r\nBcc: victim@example.com"])
def test_an_encoded_word_in_the_sender_name_or_title_cannot_add_headers(tmp_path, hidden):
    """RFC 2047 words are printable ASCII the email package decodes back into line breaks."""
    settings = Settings(SMTP_FROM="TalesRunner <books@talesrunner.test>")
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    encoded = "=?utf-8?b?" + base64.b64encode(hidden.encode()).decode() + "?="
    outgoing = mailer.Outgoing(message_id="<m@t>", to="grandma@example.com", title=f"책 {encoded}", pdf_path=pdf, pdf_bytes=15,
                               link=None, sender_name=encoded, note=None)
    parsed = message_from_bytes(mailer.build_message(settings, outgoing).as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed.get_content_type() == "multipart/mixed"
    assert parsed["To"] == "grandma@example.com" and "[TalesRunner]" in parsed["Subject"]
    assert parsed["From"].addresses[0].addr_spec == "books@talesrunner.test"


def test_a_line_separator_in_a_title_is_refused_and_cannot_break_a_subject(tmp_path, client, api, db, data_dir):
    headers = api.user()
    book = make_book(db, data_dir, user_id(db, "parent@example.com"), BookStatus.DONE)
    refused = client.patch(f"/api/v1/books/{book}", headers=headers, json={"title": "우리 여행\u2028Bcc: victim@example.com"})
    assert refused.status_code == 400 and refused.json["error"]["field"] == "title"
    settings = Settings(SMTP_FROM="books@talesrunner.test")
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    outgoing = mailer.Outgoing(message_id="<m@t>", to="grandma@example.com", title="우리 여행\u2028Bcc: victim@example.com",
                               pdf_path=pdf, pdf_bytes=15, link=None)  # a row written some other way
    parsed = message_from_bytes(mailer.build_message(settings, outgoing).as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and "우리 여행 Bcc" in parsed["Subject"]


def test_the_mailer_neutralises_a_name_that_reached_it_with_line_breaks(tmp_path):
    settings = Settings(SMTP_FROM="TalesRunner <books@talesrunner.test>")
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    outgoing = mailer.Outgoing(message_id="<m@t>", to="grandma@example.com", title="책", pdf_path=pdf, pdf_bytes=15, link=None,
                               sender_name="Evil\r\nBcc: victim@example.com\r\n", note="사랑해요")
    raw = mailer.build_message(settings, outgoing).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and len(parsed.get_all("From")) == 1
    [address] = parsed["From"].addresses  # the service's own name: what was typed is in the body, cleaned
    assert address.display_name == "TalesRunner" and address.addr_spec == "books@talesrunner.test"
    assert "victim@example.com" not in raw.decode("ascii", "replace") and "Evil Bcc:님이" in parsed.get_body(("plain",)).get_content()


# Password reset: pages without a worker -------------------------------------------------------

def test_the_login_page_links_to_the_reset_page(client):
    login = client.get("/login").text
    assert "비밀번호를 잊었어요" in login and 'href="/password/forgot"' in login


def test_without_smtp_the_reset_page_says_mail_cannot_be_sent(client):
    page = client.get("/password/forgot")
    assert page.status_code == 200 and "메일을 보낼 수 없게 설정되어" in page.text


def test_a_made_up_or_changed_reset_link_is_refused(app, client):
    assert client.get("/password/reset/not-a-token").status_code == 404
    assert "링크 다시 받기" in client.get("/password/reset/not-a-token").text


def test_reset_requests_are_rate_limited(db, service_env, spare_redis_url):
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "SMTP_HOST": "127.0.0.1", "TALES_PUBLIC_URL": PUBLIC_URL,
                      "TALES_RATELIMIT_ENABLED": "true", "TALES_RATELIMIT_RESET": "2 per hour"})
    app.extensions["talesrunner.limiter"].reset()
    pages = browser(app)
    answers = [pages.post("/password/forgot", {"email": f"someone{i}@example.com"}, page="/password/forgot").status_code
               for i in range(3)]
    assert answers == [200, 200, 429]
    # Per address mailed to as well: another client cannot flood one inbox.
    app.extensions["talesrunner.limiter"].reset()
    # The same inbox however it is written ("Name <address>", capitals, spaces): one allowance.
    spellings = ["grandma@example.com", "A <grandma@example.com>", " GRANDMA@example.com ", "B <Grandma@Example.com>"]
    answers = [browser(app).post("/password/forgot", {"email": typed}, page="/password/forgot",
                                 environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code for i, typed in enumerate(spellings)]
    assert answers == [200, 200, 429, 429]


def test_without_a_public_address_no_reset_link_is_mailed(db, service_env, spare_redis_url):
    """A link built from the request's Host (the client's to choose) could carry a parent's token to a stranger."""
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "SMTP_HOST": "127.0.0.1", "TALES_PUBLIC_URL": ""})
    pages = browser(app)
    assert "메일을 보낼 수 없게 설정되어" in pages.client.get("/password/forgot").text
    answer = pages.post("/password/forgot", {"email": "victim@example.com"})
    assert answer.status_code == 200 and "메일을 보낼 수 없게 설정되어" in answer.text
    assert redis.Redis.from_url(spare_redis_url).llen("cpu") == 0  # nothing was sent to a worker


# Over real SMTP, through a real worker ----------------------------------------------------------

@pytest.fixture(scope="module")
def mail_env(worker_with, mailbox) -> dict[str, str]:
    """A worker of its own that mails through the test SMTP server; the web app shares its settings."""
    return worker_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_FROM="books@talesrunner.test",
                       TALES_PUBLIC_URL=PUBLIC_URL).env



def reset_path(message) -> str:
    """The reset link in a mail's body, as a path on this server."""
    body = message.get_body(("plain",)).get_content()
    return re.search(re.escape(PUBLIC_URL) + r"(/password/reset/\S+)", body).group(1)


def _answer(html: str) -> str:
    """A page without what differs between any two requests (the CSRF token) or was typed (the address)."""
    html = re.sub(r'(name="csrf_token" value|name="csrf-token" content)="[^"]+"', "", html)
    return re.sub(r"[\w.]+@example\.com", "ADDRESS", html)


@pytest.mark.e2e
def test_a_forgotten_password_is_reset_from_the_link_in_the_mail(mail_app, mail, db):
    pages = browser(mail_app)
    pages.signup()
    pages.logout()
    phone = browser(mail_app)
    phone.login()
    script = api_token(phone.client)

    sent = pages.post("/password/forgot", {"email": "Parent@Example.com"}, page="/password/forgot")
    assert sent.status_code == 200 and "링크를 메일로 보냈어요" in sent.text and "1시간" in sent.text
    message = wait_mail(mail)
    assert message["To"] == "parent@example.com" and "비밀번호" in message["Subject"]
    link = reset_path(message)

    form = pages.client.get(link)
    assert form.status_code == 200 and "새 비밀번호" in form.text and form.headers["Cache-Control"] == "no-store"
    mismatch = pages.post(link, {"password": NEW_PASSWORD, "password_confirm": "something else"}, page=link)
    assert mismatch.status_code == 400 and "두 비밀번호가 같지 않아요" in mismatch.text
    done = pages.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}, page=link)
    assert done.status_code == 303 and done.location == "/login"

    assert phone.client.get("/settings").status_code == 302  # every session of the account ended
    assert mail_app.test_client().get("/api/v1/books", headers=script).status_code == 401  # and every API token
    assert browser(mail_app).login().status_code == 401
    assert pages.login(password=NEW_PASSWORD).status_code == 302
    # The link dies with the password it was made for.
    again = browser(mail_app).client.get(link)
    assert again.status_code == 404 and "이미 썼거나" in again.text
    assert browser(mail_app).post(link, {"password": "third password!", "password_confirm": "third password!"},
                                  page="/password/forgot").status_code == 404
    assert browser(mail_app).login(password=NEW_PASSWORD).status_code == 302


@pytest.mark.e2e
def test_a_reset_link_expires_after_the_set_time(mail_app, mail, mail_env, db):
    from web import create_app

    pages = browser(mail_app)
    pages.signup()
    pages.post("/password/forgot", {"email": "parent@example.com"}, page="/password/forgot")
    link = reset_path(wait_mail(mail))
    assert pages.client.get(link).status_code == 200  # the hour has not passed

    impatient = browser(create_app({**mail_env, "TALES_RESET_MAX_AGE_S": "1"}))
    deadline = time.monotonic() + 4
    while (answer := impatient.client.get(link)).status_code == 200:
        assert time.monotonic() < deadline, "the link never expired"
        time.sleep(0.1)
    assert answer.status_code == 410 and "시간이 지났어요" in answer.text
    late = impatient.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}, page="/password/forgot")
    assert late.status_code == 410
    assert browser(mail_app).login().status_code == 302  # the password is unchanged


@pytest.mark.e2e
def test_an_unknown_address_gets_the_same_answer_and_no_mail(mail_app, mail, mail_env, db):
    browser(mail_app).signup()
    unknown = browser(mail_app).post("/password/forgot", {"email": "stranger@example.com"}, page="/password/forgot")
    known = browser(mail_app).post("/password/forgot", {"email": "parent@example.com"}, page="/password/forgot")
    assert unknown.status_code == known.status_code == 200
    assert _answer(unknown.text) == _answer(known.text)
    # The worker takes messages in order: once the second one's mail is in, the first was handled.
    wait_mail(mail)
    drain(mail_env)
    assert [m["To"] for m in mail.messages] == ["parent@example.com"]


def _body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


@pytest.mark.e2e
def test_the_sender_name_and_note_are_in_the_mail(mail_app, mail, db, data_dir):
    pages = browser(mail_app)
    pages.signup()
    confirm_email(db)
    book = make_book(db, data_dir, user_id(db, "parent@example.com"), title="공원 나들이")
    note = "어머님, 지난 주말 공원에서 찍은 사진으로 만든 책이에요.\n민지가 많이 보고 싶어 해요."
    pages.post(f"/books/{book}/email", {"recipient": "other", "to": "grandma@example.com", "sender_name": "민지 엄마",
                                        "note": note}, page=f"/books/{book}")
    message = wait_mail(mail)
    [sender] = message["From"].addresses  # the service's name and address: the typed name is in the subject and body
    assert sender.display_name == "TalesRunner 그림책" and sender.addr_spec == "books@talesrunner.test"
    assert "민지 엄마님이 그림책을 보냈어요" in message["Subject"]
    assert b"=?utf-8?" in message.as_bytes().split(b"\n\n", 1)[0].lower()  # the Korean subject is encoded
    assert _body(message).startswith("민지 엄마님이 TalesRunner에서 만든 그림책을 보냈어요: ‘공원 나들이’\n\n")
    assert "민지 엄마님이 남긴 말:\n" + note + "\n\n" in _body(message)  # the note after the service's words

    token = pages.client.post("/api/v1/tokens", json={"email": "parent@example.com", "password": PASSWORD}).json["token"]
    sent = pages.client.post(f"/api/v1/books/{book}/email", headers={"Authorization": f"Bearer {token}"},
                             json={"sender_name": "아빠", "note": "짧은 인사"})
    assert sent.status_code == 202
    assert any(e["sender_name"] == "아빠" and e["note"] == "짧은 인사" for e in sent.json["emails"])
    plain = wait_mail(mail, 2)
    assert plain["To"] == "parent@example.com" and plain["From"].addresses[0].display_name == "TalesRunner 그림책"
    assert _body(plain).startswith("아빠님이") and "아빠님이 남긴 말:\n짧은 인사\n\n" in _body(plain)
    # Without a name: the same From, and the service's own sentence.
    pages.post(f"/books/{book}/email", {"recipient": "me"}, page=f"/books/{book}")
    alone = wait_mail(mail, 3)
    assert str(alone["From"]) == "TalesRunner 그림책 <books@talesrunner.test>"
    assert _body(alone).startswith("‘공원 나들이’ 그림책이 완성되었어요.")

