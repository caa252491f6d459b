"""The signed link in the mail that confirms an account's address: the worker signs it, the web tier reads it."""
from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.config import Settings
from shared.links import LinkExpired, LinkInvalid

_SALT = "email-confirmation"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.SECRET_KEY, salt=_SALT)


def sign_confirmation(settings: Settings, user_id: int, email: str) -> str:
    """A token for one account and the address it was mailed to, good for TALES_CONFIRM_MAX_AGE_S."""
    return _serializer(settings).dumps([user_id, email.lower()])


def confirmation_link(base_url: str, token: str) -> str:
    """The page that confirms the address: `<base>/confirm/<token>`."""
    return f"{base_url.rstrip('/')}/confirm/{token}"


def read_confirmation(settings: Settings, token: str) -> tuple[int, str]:
    """(user id, address) inside a confirmation token; raises LinkExpired or LinkInvalid."""
    try:
        payload = _serializer(settings).loads(token, max_age=settings.TALES_CONFIRM_MAX_AGE_S)
    except SignatureExpired:
        raise LinkExpired(token) from None
    except BadSignature:
        raise LinkInvalid(token) from None
    if not (isinstance(payload, list) and len(payload) == 2 and type(payload[0]) is int and isinstance(payload[1], str)):
        raise LinkInvalid(token)
    return payload[0], payload[1]
