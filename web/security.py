"""CSRF, cookie flags, security headers and rate limits, in one place for the whole web tier."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from web.auth import current_user
from web.db import current_settings
from web.schemas import mail_address

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# API calls that take an email and password in the body and never act through the session cookie.
CREDENTIAL_ENDPOINTS = frozenset({"api.create_user", "api.create_token"})

# The page's own files only: no CDN, no inline script; photo previews are blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
    # A spoken hint is played back from the recording in the page's memory before it is sent.
    "media-src 'self' blob:"
)


def user_or_address() -> str:
    """Count per signed-in user; before sign-in, per client address."""
    user = current_user()
    return f"user:{user.id}" if user is not None else f"addr:{get_remote_address()}"


def _failed(response) -> bool:
    # Only wrong passwords count towards the login limit: a person who signs in is not guessing.
    # 403 is a wrong password where one confirms a deletion (DELETE /api/v1/users/me).
    return response.status_code in (400, 401, 403)


def reset_address() -> str:
    """Count password-reset mails per address mailed to, so no one's inbox is flooded from many hosts."""
    typed = request.form.get("email", "")
    return "reset-to:" + (mail_address(typed) or typed.strip().lower()[:254])


# endpoint -> [(setting with the limit, shared scope, key, count only failures?)]
# A scope shared by a page and its API twin makes them draw on one allowance.
LIMITS: dict[str, list[tuple[str, str, object, bool]]] = {
    "accounts.login": [("TALES_RATELIMIT_LOGIN", "login", get_remote_address, True)],
    "api.create_token": [
        ("TALES_RATELIMIT_LOGIN", "login", get_remote_address, True),
        ("TALES_RATELIMIT_TOKENS", "tokens", get_remote_address, False),
    ],
    "accounts.create_token": [("TALES_RATELIMIT_TOKENS", "tokens", user_or_address, False)],
    # Pages and calls that take the account's password once signed in: a stolen session or token
    # must not guess it at leisure, so they draw on the failed-login allowance.
    "accounts.change_password": [("TALES_RATELIMIT_LOGIN", "login", get_remote_address, True)],
    "accounts.delete_my_account": [("TALES_RATELIMIT_LOGIN", "login", get_remote_address, True)],
    "api.delete_me": [("TALES_RATELIMIT_LOGIN", "login", get_remote_address, True)],
    "passwords.forgot": [
        ("TALES_RATELIMIT_RESET", "reset", get_remote_address, False),
        ("TALES_RATELIMIT_RESET", "reset-to", reset_address, False),
    ],
    "accounts.signup": [("TALES_RATELIMIT_SIGNUP", "signup", get_remote_address, False)],
    "api.create_user": [("TALES_RATELIMIT_SIGNUP", "signup", get_remote_address, False)],
    "home.new_book": [("TALES_RATELIMIT_BOOKS", "books", user_or_address, False)],
    "api.create_book": [("TALES_RATELIMIT_BOOKS", "books", user_or_address, False)],
    "books.email": [("TALES_RATELIMIT_EMAILS", "emails", user_or_address, False)],
    "api.email": [("TALES_RATELIMIT_EMAILS", "emails", user_or_address, False)],
    # Confirmation mails asked for again: one allowance per account for the page and the API.
    "accounts.resend_confirmation": [("TALES_RATELIMIT_CONFIRM", "confirm", user_or_address, False)],
    "api.resend_confirmation": [("TALES_RATELIMIT_CONFIRM", "confirm", user_or_address, False)],
    "api.create_transcription": [("TALES_RATELIMIT_TRANSCRIPTIONS", "transcriptions", user_or_address, False)],
}


def _limit_value(setting: str):
    return lambda: getattr(current_settings(), setting)


def _init_limiter(app: Flask) -> Limiter:
    config = app.extensions["talesrunner.settings"]
    app.config.update(
        RATELIMIT_ENABLED=config.TALES_RATELIMIT_ENABLED,
        RATELIMIT_STORAGE_URI=config.REDIS_URL,
        RATELIMIT_KEY_PREFIX="talesrunner",
        RATELIMIT_HEADERS_ENABLED=True,
        # If Redis blinks, let people in rather than fail every login: the queue is down anyway.
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    # One limiter per app: Flask-Limiter keeps its storage on the instance, not on the app.
    limiter = Limiter(key_func=get_remote_address, app=app)
    # Only the endpoints in LIMITS have limits (there are no defaults), so every other request,
    # the status poll above all, skips the limiter's per-request resolution.
    limiter.request_filter(lambda: request.endpoint not in LIMITS)
    for endpoint, limits in LIMITS.items():
        view = app.view_functions[endpoint]
        for setting, scope, key, failures_only in limits:
            view = limiter.shared_limit(
                _limit_value(setting), scope=scope, key_func=key, methods=["POST"],
                deduct_when=_failed if failures_only else None,
            )(view)
        app.view_functions[endpoint] = view
    app.extensions["talesrunner.limiter"] = limiter
    return limiter


def _init_csrf(app: Flask, api: Blueprint) -> None:
    app.config.setdefault("WTF_CSRF_ENABLED", True)
    # Valid for the whole session: a parent may spend an hour on the hints before pressing submit.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf = CSRFProtect(app)
    # API clients send a bearer token, which a forged cross-site request cannot carry.
    csrf.exempt(api)

    @app.before_request
    def _csrf_for_session_api_calls():
        # The browser's own scripts may call the API with the session cookie; that cookie
        # rides along on forged requests too, so unsafe calls need the X-CSRFToken header.
        if (
            request.blueprint == api.name
            and request.method not in SAFE_METHODS
            and request.endpoint not in CREDENTIAL_ENDPOINTS
            and "Authorization" not in request.headers
            and session.get("user_id") is not None
            and app.config["WTF_CSRF_ENABLED"]
        ):
            csrf.protect()


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is `Secure` on every request that came over https, and on all with TALES_SECURE_COOKIES."""

    def get_cookie_secure(self, app: Flask) -> bool:
        # Behind the proxy, request.is_secure is what its X-Forwarded-Proto says (ProxyFix, TALES_TRUSTED_PROXIES).
        return super().get_cookie_secure(app) or request.is_secure


def init_app(app: Flask, api: Blueprint) -> None:
    """CSRF on every form post, secure session cookies, headers, and the rate limits."""
    config = app.extensions["talesrunner.settings"]
    if config.TALES_TRUSTED_PROXIES:
        n = config.TALES_TRUSTED_PROXIES
        # The client's address and scheme only: the host stays the one the request was sent to, so a
        # forged X-Forwarded-Host cannot change the links the app builds.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.TALES_SECURE_COOKIES,
        PERMANENT_SESSION_LIFETIME=timedelta(days=config.TALES_SESSION_DAYS),
    )
    app.session_interface = SessionCookies()
    _init_csrf(app, api)
    _init_limiter(app)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if config.TALES_SECURE_COOKIES:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
