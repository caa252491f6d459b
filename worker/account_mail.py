"""Celery tasks that mail an account a link: choose a new password, or confirm the address."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from celery import Task
from sqlalchemy import select

from shared.confirmations import confirmation_link, sign_confirmation
from shared.jobs import TaskName
from shared.lifecycle import email_retries
from shared.links import reset_link, sign_reset
from shared.models import User
from worker import celery, mailer
from worker.metrics import TASK_FAILURES, short_name
from worker.tasks import context

log = logging.getLogger(__name__)


def _message_id(task: Task, kind: str) -> str:
    # The task's id stays the same across its retries, so a copy resent after a lost answer is known as the same mail.
    return f"<talesrunner-{kind}-{task.request.id}@talesrunner>"


@celery.task(bind=True, name=TaskName.PASSWORD_RESET.value)
def send_password_reset(self: Task, email: str, base_url: str) -> None:
    """Mail a password-reset link to the account with this address, if there is one.

    The web tier sends this message for every address asked about and answers the same page, so
    neither its answer nor its timing tells whether an account exists; only here is it looked up.
    """
    ctx = context()
    with ctx.sessions.begin() as session:
        user = session.scalar(select(User).where(User.email == email.lower()))
        if user is None:
            return
        # Bound to the password hash: the link dies once the password changes (single use).
        link = reset_link(base_url, sign_reset(ctx.settings, user.id, user.password_hash))
    _send(self, mailer.build_reset_message(ctx.settings, email, link, _message_id(self, "reset")), "password-reset")


@celery.task(bind=True, name=TaskName.CONFIRM_EMAIL.value)
def send_email_confirmation(self: Task, user_id: int, base_url: str) -> None:
    """Mail an account the link that confirms its address; nothing when it is confirmed already or gone."""
    ctx = context()
    with ctx.sessions.begin() as session:
        user = session.get(User, user_id)
        if user is None or user.email_confirmed_at is not None:
            return
        email = user.email
        link = confirmation_link(base_url, sign_confirmation(ctx.settings, user.id, email))
    _send(self, mailer.build_confirmation_message(ctx.settings, email, link, _message_id(self, "confirm")), "confirmation")


def _send(task: Task, message: EmailMessage, what: str) -> None:
    """Send one account mail, retried with backoff while the SMTP server may recover; the log says why it did not go."""
    settings = context().settings
    retries = email_retries(settings)
    try:
        mailer.send(settings, message)
    except RuntimeError:
        log.error("a %s mail was asked for, but SMTP_HOST is not set: no mail sent", what)
    except (smtplib.SMTPException, OSError) as exc:
        if mailer.is_permanent(exc) or not retries.may_retry(task.request.retries):
            log.warning("%s mail not sent: %s", what, mailer.describe_failure(exc))
            TASK_FAILURES.labels(short_name(task.name)).inc()
            return
        raise task.retry(exc=exc, countdown=retries.delay(task.request.retries), max_retries=retries.max_retries) from exc
