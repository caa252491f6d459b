"""Users and API tokens."""
from __future__ import annotations

from flask import jsonify, request

from web.api.blueprint import api
from web.auth import find_user, issue_token, register
from web.db import get_session
from web.errors import ApiError
from web.schemas import Credentials


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what was wrong."""
    data = request.get_json(silent=True)
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
    return jsonify(token=token, token_type="Bearer"), 201
