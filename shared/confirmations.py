"""The signed link in the mail that confirms an account's address: the worker signs it, the web tier reads it."""
from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from shared.config import Settings
from shared.links import read_account_pair

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
    return read_account_pair(_serializer(settings), token, settings.TALES_CONFIRM_MAX_AGE_S)
