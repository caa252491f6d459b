"""Pages for a forgotten password: ask for a link by email, then choose a new password with it."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from shared.jobs import TaskName
from shared.links import LinkExpired, LinkInvalid, read_reset_token, reset_matches
from shared.models import User
from web.auth import set_password
from web.books_service import enqueue
from web.db import current_settings, get_session
from web.pages.accounts import FIELD_MESSAGES, new_password_errors
from web.schemas import mail_address

bp = Blueprint("passwords", __name__, url_prefix="/password")
log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    """Ask for a password-reset link; the answer is the same whether or not the account exists."""
    config = current_settings()
    # The link needs the service's own public address: the request's Host is the client's to
    # choose, and a link built from it could send a parent's reset token to a stranger's host.
    if not config.SMTP_HOST or not config.TALES_PUBLIC_URL:
        log.warning("password reset page opened, but %s is not set: no reset mail can be sent",
                    "SMTP_HOST" if not config.SMTP_HOST else "TALES_PUBLIC_URL")
        return render_template("accounts/forgot.html", errors={}, sent=None, no_mail=True), 200
    if request.method == "GET":
        return render_template("accounts/forgot.html", errors={}, sent=None, no_mail=False)
    email = mail_address(request.form.get("email", ""))
    if email is None:
        return render_template("accounts/forgot.html", errors={"email": FIELD_MESSAGES["email"]}, sent=None, no_mail=False), 400
    # Sent through a worker rather than from here (the web tier has no SMTP of its own and never
    # imports `worker`): the message goes for every address and the worker looks the account up,
    # so the answer, and how long it takes, is the same for an address with no account.
    enqueue(TaskName.PASSWORD_RESET, email, config.TALES_PUBLIC_URL)
    get_session().commit()
    return render_template("accounts/forgot.html", errors={}, sent=email, no_mail=False,
                           reset_hours=_duration(current_settings().TALES_RESET_MAX_AGE_S))


def _duration(seconds: int) -> str:
    if seconds >= 3600:
        return f"{seconds // 3600}시간" + (f" {seconds % 3600 // 60}분" if seconds % 3600 >= 60 else "")
    return f"{max(seconds // 60, 1)}분"


def _user_for(token: str, lock: bool = False) -> tuple[User | None, str | None]:
    """The user a reset link is for, or None with what to tell the visitor.

    `lock` holds the user's row until the request commits: two uses of one link, or a reset and a
    change from the settings page at once, go one after the other, and the second finds the
    password changed (the link dead).
    """
    settings = current_settings()
    try:
        user_id, stamp = read_reset_token(settings, token)
    except LinkExpired:
        return None, "expired"
    except LinkInvalid:
        return None, "invalid"
    user = get_session().get(User, user_id, with_for_update=lock, populate_existing=lock)
    if user is None or not reset_matches(stamp, user.password_hash):
        # Used already (the password changed since it was sent), or the account is gone.
        return None, "invalid"
    return user, None


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Choose a new password with the link from the mail; every login session and API token of the account ends."""
    user, problem = _user_for(token, lock=request.method == "POST")
    if user is None:
        return render_template("accounts/reset.html", problem=problem, errors={}), (410 if problem == "expired" else 404), NO_STORE
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors = new_password_errors()
        if not errors:
            set_password(user, request.form["password"], keep_this_session=False, end_api_tokens=True)
            get_session().commit()
            session.clear()
            flash("비밀번호를 새로 정했어요. 새 비밀번호로 로그인해 주세요.", "success")
            return redirect(url_for("accounts.login"), code=303)
    return render_template("accounts/reset.html", problem=None, errors=errors, email=user.email), (400 if errors else 200), NO_STORE
