"""Pages for accounts: sign up, log in, log out, confirm the address; on the settings page, API
tokens, the password and deleting the account."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from shared.links import LinkExpired, LinkInvalid
from shared.models import ApiToken
from web.accounts_service import ask_confirmation, confirmation_user, delete_account, mail_configured, mark_confirmed
from web.auth import (
    current_user,
    find_user,
    issue_token,
    log_in,
    log_out,
    login_required,
    password_matches,
    register,
    set_password,
)
from web.db import get_session
from web.errors import ApiError, korean
from web.schemas import Credentials, NewPassword

bp = Blueprint("accounts", __name__)
NO_STORE = {"Cache-Control": "no-store"}  # a page reached by a link that is a secret

FIELD_MESSAGES = {
    "email": "올바른 이메일 주소를 적어 주세요.",
    "password": "비밀번호는 8자 이상이어야 해요.",
}


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site, never another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("home.my_books")


def _credentials() -> tuple[Credentials | None, dict[str, str]]:
    """The posted email and password, or the problems with them by field."""
    try:
        return Credentials(email=request.form.get("email", "").strip(), password=request.form.get("password", "")), {}
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
        return None, {field: FIELD_MESSAGES.get(field, "확인해 주세요.") for field in fields}


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an account and sign in."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        credentials, errors = _credentials()
        if credentials and request.form.get("password") != request.form.get("password_confirm"):
            errors["password_confirm"] = "두 비밀번호가 같지 않아요."
        if not errors:
            try:
                user = register(credentials)
            except ApiError as exc:
                errors["email"] = korean(exc)
            else:
                asked = ask_confirmation(user)
                log_in(user)  # commits, and with it sends the confirmation mail
                flash(f"가입을 환영해요! {user.email} 주소로 확인 메일을 보냈어요. 메일의 링크를 열면 가족에게도 그림책을 "
                      "메일로 보낼 수 있어요. 첫 그림책을 만들어 보세요." if asked else "가입을 환영해요! 첫 그림책을 만들어 보세요.",
                      "success")
                return redirect(url_for("home.new_book"))
    return render_template("accounts/signup.html", errors=errors), (400 if errors else 200)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        credentials, errors = _credentials()
        user = find_user(credentials.email, credentials.password) if credentials else None
        if credentials and user is None:
            errors["form"] = "이메일 또는 비밀번호가 맞지 않아요."
        if user is not None:
            log_in(user)
            return redirect(_safe_next(request.form.get("next")))
        # 401 for a wrong password: the login rate limit counts only these.
        status = 401 if credentials else 400
    elif current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("accounts/login.html", errors=errors, next=request.values.get("next", "")), status


@bp.post("/logout")
def logout():
    """End the browser session."""
    log_out()
    flash("로그아웃했어요.", "info")
    return redirect(url_for("accounts.login"))


def _tokens_page(new_token: str | None = None, errors: dict[str, str] | None = None):
    tokens = get_session().scalars(
        select(ApiToken).where(ApiToken.user_id == current_user().id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    response = render_template("accounts/settings.html", tokens=tokens, new_token=new_token, errors=errors or {})
    # The page may show a token in the clear: keep it out of every cache. 400 when a form was refused
    # (the login rate limit counts those: a stolen session must not guess the password at leisure).
    return response, 400 if errors else 200, {"Cache-Control": "no-store"}


def new_password_errors(prefix: str = "") -> dict[str, str]:
    """What is wrong with the posted `password` and `password_confirm`, by field (with `prefix`)."""
    password = request.form.get("password", "")
    try:
        NewPassword(password=password)
    except ValidationError:
        return {prefix + "password": FIELD_MESSAGES["password"]}
    if password != request.form.get("password_confirm"):
        return {prefix + "password_confirm": "두 비밀번호가 같지 않아요."}
    return {}


@bp.get("/settings")
@login_required
def settings_page():
    """Account details and personal API tokens."""
    return _tokens_page()


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Make a personal API token and show it once."""
    name = "".join(ch for ch in request.form.get("name", "") if ch.isprintable()).strip()[:100] or "api"
    token = issue_token(current_user(), name)
    get_session().commit()
    return _tokens_page(new_token=token)


@bp.post("/settings/tokens/<int(max=2147483647):token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Delete one of my tokens; API calls with it stop working at once."""
    db = get_session()
    token = db.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user().id))
    if token is None:
        raise ApiError(404, "not_found", "no such token")
    db.delete(token)
    db.commit()
    flash(f"토큰 ‘{token.name}’({token.prefix}…)을 지웠어요.", "info")
    return redirect(url_for("accounts.settings_page"))


@bp.post("/settings/password")
@login_required
def change_password():
    """Change my password; my other browsers are signed out, this one stays."""
    user = current_user()
    if not password_matches(user, request.form.get("current_password", "")):
        return _tokens_page(errors={"current_password": "지금 비밀번호가 맞지 않아요."})
    errors = new_password_errors()
    if errors:
        return _tokens_page(errors=errors)
    # Whoever knew the old password may have signed in elsewhere or made a token: both end with it.
    set_password(user, request.form["password"], keep_this_session=True, end_api_tokens=True)
    get_session().commit()
    flash("비밀번호를 바꿨어요. 다른 기기의 로그인과 API 토큰은 모두 끝났어요. 프로그램에서 쓰려면 토큰을 새로 만들어 주세요.", "success")
    return redirect(url_for("accounts.settings_page"), code=303)


@bp.post("/settings/delete")
@login_required
def delete_my_account():
    """Delete my account with every book, photo and PDF, then sign out."""
    user = current_user()
    if not password_matches(user, request.form.get("delete_password", "")):
        return _tokens_page(errors={"delete_password": "비밀번호가 맞지 않아요. 계정을 지우지 않았어요."})
    delete_account(user)
    log_out()
    flash("계정과 모든 그림책, 사진을 지웠어요. 그동안 TalesRunner를 써 주셔서 고마워요.", "info")
    return redirect(url_for("accounts.login"), code=303)


@bp.post("/settings/confirmation")
@login_required
def resend_confirmation():
    """Mail the link that confirms my address again (rate limited), then back to the page I came from."""
    user = current_user()
    back = _safe_next(request.form.get("next") or url_for("accounts.settings_page"))
    if user.email_confirmed_at is not None:
        flash("이미 확인한 메일 주소예요. 다른 사람에게도 그림책을 보낼 수 있어요.", "info")
    elif ask_confirmation(user):
        get_session().commit()
        flash(f"{user.email} 주소로 확인 메일을 다시 보냈어요. 메일의 링크를 열어 주세요. 메일이 보이지 않으면 스팸함도 확인해 주세요.",
              "success")
    elif not mail_configured():
        flash("이 서버는 메일을 보낼 수 없게 설정되어 있어서 확인 메일을 보낼 수 없어요. 서버를 운영하는 분께 알려 주세요.", "error")
    else:
        flash("지금은 확인 메일을 보낼 수 없어요. 잠시 뒤 다시 해 주세요.", "error")
    return redirect(back, code=303)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """Confirm my address with the link from the mail: a button to press, so a mail scanner opening the link confirms nothing."""
    try:
        user = confirmation_user(token, lock=request.method == "POST")
    except LinkExpired:
        return render_template("accounts/confirm.html", problem="expired"), 410, NO_STORE
    except LinkInvalid:
        return render_template("accounts/confirm.html", problem="invalid"), 404, NO_STORE
    if request.method == "POST":
        mark_confirmed(user)
        flash(f"{user.email} 주소를 확인했어요. 이제 가족에게도 그림책을 메일로 보낼 수 있어요.", "success")
        return redirect(url_for("home.my_books") if current_user() is not None else url_for("accounts.login"), code=303)
    return render_template("accounts/confirm.html", problem=None, email=user.email,
                           confirmed=user.email_confirmed_at is not None), 200, NO_STORE
