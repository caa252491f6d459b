"""An account confirms its address before it mails anyone else, and mails others a limited number a day.

Sign-up mails a signed link (through a real worker and a real SMTP server); opening it shows a button,
pressing it confirms. Until then mail to the account's own address goes, any other is a Korean 403.
"""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select, update

from shared.config import Settings
from shared.confirmations import sign_confirmation
from shared.db import session_factory
from shared.models import EmailRequest, User, utcnow
from tests.mailbox import wait_confirmations, wait_mail
from tests.web_helpers import PASSWORD, ApiActions, Pages, confirm_email, make_book, user_id

PUBLIC_URL = "http://books.test"


@pytest.fixture(scope="module")
def mail_env(worker_with, mailbox) -> dict[str, str]:
    """A worker of its own that mails through the test SMTP server; the web app shares its settings."""
    return worker_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_FROM="books@talesrunner.test",
                       TALES_PUBLIC_URL=PUBLIC_URL).env


@pytest.fixture
def app(db, service_env, spare_redis_url):
    """The web app with mail configured, its messages going to a Redis database no worker reads."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url, "SMTP_HOST": "127.0.0.1", "TALES_PUBLIC_URL": PUBLIC_URL})




def link_in(message) -> str:
    """The confirmation link in a mail's body, as a path on this server."""
    body = message.get_body(("plain",)).get_content()
    return re.search(re.escape(PUBLIC_URL) + r"(/confirm/\S+)", body).group(1)


def confirmed_at(db_url: str, email: str = "parent@example.com"):
    with session_factory(db_url)() as session:
        return session.scalar(select(User.email_confirmed_at).where(User.email == email))


def bearer(client, email: str = "parent@example.com") -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


# End to end: sign up, the mail, the link, mail to others ----------------------------------------

@pytest.mark.e2e
def test_signing_up_mails_a_link_that_lets_the_account_mail_others(mail_app, mail, db, data_dir):
    pages = Pages(mail_app.test_client())
    welcome = pages.signup()
    assert "확인 메일을 보냈어요" in pages.client.get(welcome.location).text
    message = wait_confirmations(mail)
    assert message["To"] == "parent@example.com" and "메일 주소를 확인해 주세요" in message["Subject"]
    assert message["Date"] and str(message["Message-ID"]).strip().startswith("<talesrunner-confirm-")
    book = make_book(db, data_dir, user_id(db, "parent@example.com"), title="할머니께")

    # Before confirming: the book page says why and offers the mail again; others are refused, the account itself is not.
    page = pages.client.get(f"/books/{book}").text
    assert "다른 사람에게 보내려면 먼저 메일 주소를 확인해 주세요" in page and "확인 메일 다시 보내기" in page
    refused = pages.post(f"/books/{book}/email", {"recipient": "other", "to": "grandma@example.com", "note": "사랑해요"},
                         page=f"/books/{book}")
    assert refused.status_code == 403 and "먼저 메일 주소를 확인해 주세요" in refused.text and "사랑해요</textarea>" in refused.text
    assert pages.post(f"/books/{book}/email", {"recipient": "me"}, page=f"/books/{book}").status_code == 303
    assert wait_mail(mail)["To"] == "parent@example.com"

    # Opening the link changes nothing by itself (a mail scanner may open it); the button confirms.
    link = link_in(message)
    opened = Pages(mail_app.test_client())  # the link works in any browser, signed in or not
    shown = opened.client.get(link)
    assert shown.status_code == 200 and "메일 주소 확인하기" in shown.text and shown.headers["Cache-Control"] == "no-store"
    assert confirmed_at(db) is None
    done = opened.post(link, page=link)
    assert done.status_code == 303 and confirmed_at(db) is not None
    assert "주소를 확인했어요" in opened.client.get(done.location).text
    assert "이미 확인했어요" in opened.client.get(link).text

    sent = pages.post(f"/books/{book}/email", {"recipient": "other", "to": "grandma@example.com"}, page=f"/books/{book}")
    assert sent.status_code == 303
    assert wait_mail(mail, 2)["To"] == "grandma@example.com"
    assert "확인 메일 다시 보내기" not in pages.client.get(f"/books/{book}").text


@pytest.mark.e2e
def test_an_api_sign_up_is_mailed_the_link_and_can_ask_for_it_again(mail_app, mail, db, data_dir):
    client = mail_app.test_client()
    made = client.post("/api/v1/users", json={"email": "parent@example.com", "password": PASSWORD})
    assert made.status_code == 201 and made.json["email_confirmed"] is False and made.json["confirmation_sent"] is True
    first = wait_confirmations(mail)
    headers = bearer(client)
    book = make_book(db, data_dir, user_id(db, "parent@example.com"))

    refused = client.post(f"/api/v1/books/{book}/email", headers=headers, json={"to": "grandma@example.com"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "email_not_confirmed"
    assert "먼저 메일 주소를 확인해 주세요" in refused.json["error"]["message"]
    assert client.post(f"/api/v1/books/{book}/email", headers=headers, json={}).status_code == 202  # to myself

    again = client.post("/api/v1/users/me/confirmation", headers=headers)
    assert again.status_code == 202 and again.json["confirmation_sent"] is True
    second = wait_confirmations(mail, 2)
    assert str(second["Message-ID"]) != str(first["Message-ID"])
    browser = Pages(mail_app.test_client())
    assert browser.post(link_in(second), page=link_in(second)).status_code == 303
    assert client.post(f"/api/v1/books/{book}/email", headers=headers, json={"to": "grandma@example.com"}).status_code == 202
    assert client.post("/api/v1/users/me/confirmation", headers=headers).json["email_confirmed"] is True


# The link ----------------------------------------------------------------------------------------

def _token_signed_days_ago(settings: Settings, days: int, user: int, email: str) -> str:
    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86400

    return URLSafeTimedSerializer(settings.SECRET_KEY, salt="email-confirmation", signer=Earlier).dumps([user, email])


def test_a_changed_forged_or_expired_confirmation_link_is_refused(app, db):
    Pages(app.test_client()).signup()
    me = user_id(db, "parent@example.com")
    settings = app.extensions["talesrunner.settings"]
    good = sign_confirmation(settings, me, "parent@example.com")
    stranger = Settings(SECRET_KEY="another secret, at least thirty-two characters")
    client = app.test_client()
    for token, status in [(good[:-2] + "xx", 404), (sign_confirmation(stranger, me, "parent@example.com"), 404),
                          (sign_confirmation(settings, me, "someone@example.com"), 404),  # the address changed since
                          (_token_signed_days_ago(settings, 4, me, "parent@example.com"), 410)]:
        answer = client.get(f"/confirm/{token}")
        assert answer.status_code == status and "설정에서" in answer.text, token
        assert Pages(client).post(f"/confirm/{token}", page="/login").status_code == status
    assert client.get(f"/confirm/{_token_signed_days_ago(settings, 2, me, 'parent@example.com')}").status_code == 200  # 3 days
    assert confirmed_at(db) is None


# Who may be mailed, and how many ---------------------------------------------------------------

def test_mail_to_others_is_limited_per_account_per_day(db, service_env, spare_redis_url, data_dir):
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "TALES_MAIL_PER_DAY": "2"})
    client = app.test_client()
    headers = ApiActions(client).user()
    confirm_email(db)
    book = make_book(db, data_dir, user_id(db, "parent@example.com"))
    answers = [client.post(f"/api/v1/books/{book}/email", headers=headers, json={"to": to}).status_code
               for to in ("a@example.com", "b@example.com", "c@example.com")]
    assert answers == [202, 202, 429]
    over = client.post(f"/api/v1/books/{book}/email", headers=headers, json={"to": "d@example.com"}).json["error"]
    assert over["code"] == "mail_limit" and "24시간에 2통까지" in over["message"]
    assert client.post(f"/api/v1/books/{book}/email", headers=headers, json={}).status_code == 202  # my own address is not counted
    # Another book of mine draws on the same allowance; a day later the earliest no longer count.
    other_book = make_book(db, data_dir, user_id(db, "parent@example.com"))
    assert client.post(f"/api/v1/books/{other_book}/email", headers=headers, json={"to": "e@example.com"}).status_code == 429
    with session_factory(db).begin() as session:
        session.execute(update(EmailRequest).values(created_at=utcnow() - timedelta(hours=25)))
    assert client.post(f"/api/v1/books/{other_book}/email", headers=headers, json={"to": "e@example.com"}).status_code == 202

    pages = Pages(client)
    pages.login()
    for to in ("f@example.com", "g@example.com"):
        pages.post(f"/books/{book}/email", {"recipient": "other", "to": to}, page=f"/books/{book}")
    refused = pages.post(f"/books/{book}/email", {"recipient": "other", "to": "h@example.com"}, page=f"/books/{book}")
    assert refused.status_code == 429 and "24시간에 2통까지" in refused.text and 'value="h@example.com"' in refused.text


def test_asking_for_the_confirmation_mail_again_is_rate_limited(db, service_env, spare_redis_url):
    from web import create_app

    app = create_app({**service_env, "REDIS_URL": spare_redis_url, "SMTP_HOST": "127.0.0.1", "TALES_PUBLIC_URL": PUBLIC_URL,
                      "TALES_RATELIMIT_ENABLED": "true", "TALES_RATELIMIT_CONFIRM": "2 per hour"})
    app.extensions["talesrunner.limiter"].reset()
    pages = Pages(app.test_client())
    pages.signup()
    settings_page = pages.client.get("/settings").text
    assert "아직 확인하지 않음" in settings_page and "확인 메일 다시 보내기" in settings_page
    answers = [pages.post("/settings/confirmation", {"next": "/settings"}, page="/settings").status_code for _ in range(2)]
    assert answers == [303, 303]
    assert "확인 메일을 다시 보냈어요" in pages.client.get("/settings").text
    assert pages.post("/settings/confirmation", page="/settings").status_code == 429
    # The API draws on the same allowance.
    assert pages.client.post("/api/v1/users/me/confirmation", headers=bearer(pages.client)).status_code == 429


def test_a_confirmed_account_is_told_so_and_offered_nothing(app, db):
    pages = Pages(app.test_client())
    pages.signup()
    confirm_email(db)
    settings_page = pages.client.get("/settings").text
    assert "확인함" in settings_page and "확인 메일 다시 보내기" not in settings_page
    again = pages.post("/settings/confirmation", page="/settings")
    assert again.status_code == 303 and "이미 확인한 메일 주소예요" in pages.client.get("/settings").text
