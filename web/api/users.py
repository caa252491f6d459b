"""Users and API tokens; deleting my account."""
from __future__ import annotations

from flask import jsonify, request

from web.accounts_service import delete_account
from web.api.blueprint import api
from web.auth import current_user, find_user, issue_token, log_out, password_matches, register, token_required
from web.db import current_settings, get_session
from web.errors import ApiError
from web.schemas import Credentials, JsonRefused, PasswordCheck, parse_json


def json_body(optional: bool = False) -> dict:
    """The request's JSON object (size and depth checked before parsing), or a 4xx that says what was wrong."""
    settings = current_settings()
    raw = request.stream.read(settings.TALES_MAX_JSON_BYTES + 1) if request.is_json else b""
    if not raw.strip() and optional:
        return {}
    if not request.is_json:
        raise ApiError(400, "invalid_json", "send a JSON object with Content-Type: application/json")
    if len(raw) > settings.TALES_MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"the JSON body is larger than {settings.TALES_MAX_JSON_BYTES // 1024} KB")
    try:
        data = parse_json(raw, max_bytes=settings.TALES_MAX_JSON_BYTES, max_depth=settings.TALES_MAX_JSON_DEPTH)
    except JsonRefused as exc:
        raise ApiError(400, "invalid_json", f"{exc}; send a JSON object with Content-Type: application/json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "send a JSON object with Content-Type: application/json")
    return data


@api.post("/users")
def create_user():
    """Sign up with an email and a password (8+ characters)."""
    user = register(Credentials.model_validate(json_body()))
    return jsonify(id=user.id, email=user.email), 201


@api.post("/tokens")
def create_token():
    """Exchange an email and password for a bearer token."""
    credentials = Credentials.model_validate(json_body())
    user = find_user(credentials.email, credentials.password)
    if user is None:
        raise ApiError(401, "bad_credentials", "wrong email or password")
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
        raise ApiError(403, "wrong_password", "the password is not this account's; nothing was deleted", "password")
    delete_account(user)
    log_out()  # a browser's own script may call this with the session cookie
    return "", 204
