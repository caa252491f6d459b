"""Who is asking: a bearer token (API) or, for pages, the login session."""
from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from flask import g, redirect, request, session, url_for
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from shared.links import end_user_links
from shared.models import ApiToken, LoginSession, User, utcnow
from web.db import current_settings, get_session
from web.errors import ApiError, error_response, page_asks_json
from web.schemas import Credentials

TOKEN_PREFIX = "tr_"
LOGGED_OUT = ("로그인이 풀렸어요. 새 탭에서 다시 로그인한 뒤 이 페이지에서 다시 눌러 주세요. "
              "고른 사진과 적은 힌트는 그대로 있어요.")
UNAUTHORIZED = "sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/tokens)"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def find_user(email: str, password: str) -> User | None:
    """The user with these credentials, or None (same answer for unknown email and bad password)."""
    user = get_session().scalar(select(User).where(User.email == email.lower()))
    if user is None:
        # Hash anyway, so the answer takes as long as for a real account and does not reveal one.
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def password_matches(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def set_password(user: User, password: str, *, keep_this_session: bool, end_api_tokens: bool = False) -> None:
    """Store a new password and end the user's login sessions: all, or all but this request's own.

    `end_api_tokens` (a reset, and a change from the settings page) also revokes every API token:
    whoever made one while holding the old password loses it with the password. The caller
    commits. A reset link carries a digest of the old hash, so this kills it too.
    """
    user.password_hash = hash_password(password)
    keep = session.get("sid") if keep_this_session and session.get("user_id") == user.id else None
    ended = delete(LoginSession).where(LoginSession.user_id == user.id)
    if isinstance(keep, str):
        ended = ended.where(LoginSession.id != hash_token(keep))
    db = get_session()
    db.execute(ended.execution_options(synchronize_session=False))
    # Whoever held the old password could have made share links: they end with it, reset or change.
    end_user_links(db, user.id)
    if end_api_tokens:
        db.execute(delete(ApiToken).where(ApiToken.user_id == user.id).execution_options(synchronize_session=False))


def register(credentials: Credentials) -> User:
    """Create an account; 409 when the email is taken."""
    db = get_session()
    user = User(email=credentials.email.lower(), password_hash=hash_password(credentials.password))
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        # The email was already taken, which made the unique constraint fail.
        db.rollback()
        raise ApiError(409, "email_taken", "an account with this email already exists", "email") from None
    return user


def log_in(user: User) -> None:
    """Start a browser session for `user` (a fresh cookie, so no earlier session carries over).

    The cookie names a row in `login_sessions`; logging out deletes the row, so a copy of the
    cookie kept by someone else stops working at once rather than when it expires.
    """
    session_id = secrets.token_urlsafe(32)
    db = get_session()
    db.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.created_at < session_cutoff()))
    db.add(LoginSession(id=hash_token(session_id), user_id=user.id))
    db.commit()
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["sid"] = session_id
    g.user = user


def log_out() -> None:
    session_id = session.get("sid")
    if session_id:
        db = get_session()
        db.execute(delete(LoginSession).where(LoginSession.id == hash_token(str(session_id))))
        db.commit()
    session.clear()
    g.pop("user", None)


def _user_from_session() -> User | None:
    user_id, session_id = session.get("user_id"), session.get("sid")
    if not isinstance(user_id, int) or not isinstance(session_id, str):
        return None
    return get_session().scalar(
        select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == user_id, LoginSession.id == hash_token(session_id), LoginSession.created_at >= session_cutoff())
    )


def session_cutoff():
    return utcnow() - timedelta(days=current_settings().TALES_SESSION_DAYS)


def issue_token(user: User, name: str = "api") -> str:
    """Create a token for `user`; the plain token is returned once and only its hash is stored."""
    token = new_token()
    get_session().add(ApiToken(user=user, token_hash=hash_token(token), prefix=token[:10], name=name))
    return token


def _user_from_bearer() -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    db = get_session()
    # Token and user in one query; polling clients send one request a second or more.
    row = db.execute(
        select(ApiToken.id, ApiToken.last_used_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token.strip()))
    ).first()
    if row is None:
        return None
    touch_token(row.id, row.last_used_at)
    return row.User


def touch_token(token_id: int, last_used_at) -> None:
    """Record when a token was used, at most once per TALES_TOKEN_TOUCH_S, so reads stay reads."""
    now = utcnow()
    cutoff = now - timedelta(seconds=current_settings().TALES_TOKEN_TOUCH_S)
    if last_used_at is not None and last_used_at > cutoff:
        return
    db = get_session()
    # Conditional, so many web workers seeing the same stale time write it once between them.
    db.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= cutoff))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()


def current_user() -> User | None:
    """The caller: bearer token first, then the browser session."""
    if "user" not in g:
        if "Authorization" in request.headers:
            # A request that names a token stands or falls by it: a revoked token must not
            # quietly succeed because the same browser also holds a session.
            g.user = _user_from_bearer()
        elif session.get("user_id") is not None:
            g.user = _user_from_session()
        else:
            g.user = None
    return g.user


def token_required(view):
    """401 JSON unless the request carries a valid token or session."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        return view(*args, **kwargs)

    return wrapped


def login_required(view):
    """Pages: send a visitor without a session to the login page, then back here."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            if page_asks_json():  # a page's script: the page stays as it is, with everything typed
                return error_response(401, "login_required", LOGGED_OUT)
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
