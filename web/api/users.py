"""Users and API tokens; deleting my account."""
from __future__ import annotations

from flask import jsonify, request

from web.accounts_service import ask_confirmation, delete_account, mail_configured
from web.api.blueprint import api
from web.auth import current_user, find_user, issue_token, log_out, password_matches, register, token_required
from web.db import current_settings, get_session
from web.errors import KOREAN, ApiError, BrokerDown
from web.schemas import Credentials, JsonRefused, PasswordCheck, parse_json


def json_body(optional: bool = False) -> dict:
    """The request's JSON object (size and depth checked before parsing), or a 4xx that says what was wrong."""
    settings = current_settings()
    raw = request.stream.read(settings.TALES_MAX_JSON_BYTES + 1) if request.is_json else b""
    if not raw.strip() and optional:
        return {}
    if not request.is_json:
        raise ApiError(400, "invalid_json", KOREAN["invalid_json"])
    if len(raw) > settings.TALES_MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"보낸 내용이 너무 커요. JSON 본문은 {settings.TALES_MAX_JSON_BYTES // 1024}KB까지 보낼 수 있어요.")
    try:
        data = parse_json(raw, max_bytes=settings.TALES_MAX_JSON_BYTES, max_depth=settings.TALES_MAX_JSON_DEPTH)
    except JsonRefused as exc:
        raise ApiError(400, "invalid_json", f"{KOREAN['invalid_json']} ({settings.TALES_MAX_JSON_BYTES // 1024}KB까지, "
                                            f"{settings.TALES_MAX_JSON_DEPTH}단계까지 겹친 JSON)") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", KOREAN["invalid_json"])
    return data


@api.post("/users")
def create_user():
    """Sign up with an email and a password (8+ characters)."""
    user = register(Credentials.model_validate(json_body()))
    sent = ask_confirmation(user)  # the link that lets the account mail others; sent on commit
    get_session().commit()
    return jsonify(id=user.id, email=user.email, email_confirmed=False, confirmation_sent=sent), 201


@api.post("/users/me/confirmation")
@token_required
def resend_confirmation():
    """Mail the link that confirms my address again (rate limited); 202, or 200 when it is confirmed already."""
    user = current_user()
    if user.email_confirmed_at is not None:
        return jsonify(email=user.email, email_confirmed=True, confirmation_sent=False), 200
    if not mail_configured():  # the operator's setting, not a passing fault
        raise ApiError(409, "mail_unavailable", "이 서버는 메일을 보낼 수 없게 설정되어 있어서 확인 메일을 보낼 수 없어요. "
                                                "서버를 운영하는 분께 알려 주세요.")
    if not ask_confirmation(user):
        raise BrokerDown("the confirmation mail could not be queued")
    get_session().commit()
    return jsonify(email=user.email, email_confirmed=False, confirmation_sent=True), 202


@api.post("/tokens")
def create_token():
    """Exchange an email and password for a bearer token."""
    credentials = Credentials.model_validate(json_body())
    user = find_user(credentials.email, credentials.password)
    if user is None:
        raise ApiError(401, "bad_credentials", KOREAN["bad_credentials"])
    token = issue_token(user)
    get_session().commit()
    return jsonify(token=token, token_type="Bearer"), 201, {"Cache-Control": "no-store"}  # a secret, shown once


@api.delete("/users/me")
@token_required
def delete_me():
    """Delete my account, every book with its photos and PDFs, my tokens and sessions; needs my password."""
    body = PasswordCheck.model_validate(json_body())
    user = current_user()
    if not password_matches(user, body.password):
        raise ApiError(403, "wrong_password", "비밀번호가 맞지 않아요. 아무것도 지우지 않았어요.", "password")
    delete_account(user)
    log_out()  # a browser's own script may call this with the session cookie
    return "", 204
