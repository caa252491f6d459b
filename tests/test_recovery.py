"""Lost and failed work comes back, once: mails, worker deaths and faults that pass, against the real database (no worker)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from shared import leases
from shared.config import Settings
from shared.db import session_factory
from shared.jobs import TaskName
from shared.lifecycle import claim_email
from shared.models import Book, DeadLetter, EmailRequest, User, utcnow
from shared.status import BookStatus, EmailStatus
from shared.storage import LocalStorage
from tests.helpers import sample_form
from tests.test_pipeline import Recorder
from tests.web_helpers import make_book, user_id
from web.books_service import delete_book_rows
from worker import pipeline, tasks

# Sessions of this database waiting for a lock (other test runs share the server).
WAITING = text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
               "WHERE NOT l.granted AND a.datname = current_database()")
# A process on another host that nobody has heard from: gone at once (shared/leases.is_gone).
GONE = "elsewhere:4242:0123abcd"


@pytest.fixture
def client(db, service_env, spare_redis_url):
    """An app whose messages go to a Redis database no worker reads, so only the test runs stages."""
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


def _ctx(db, service_env, worker_id: str | None = None, **settings) -> pipeline.Context:
    return pipeline.Context(settings=Settings(**{**service_env, **settings}), sessions=session_factory(db),
                            storage=LocalStorage(service_env["DATA_DIR"]), enqueue=Recorder(), worker_id=worker_id)


@pytest.fixture
def ctx(db, service_env) -> pipeline.Context:
    return _ctx(db, service_env)


def _mail(db, ctx, **fields) -> tuple[str, int]:
    """A finished book of a new account and one mail request for it, in any state."""
    with ctx.sessions.begin() as session:
        session.add(User(email="parent@example.com", password_hash="x"))
    book_id = make_book(db, ctx.settings.DATA_DIR, user_id(db, "parent@example.com"))
    with ctx.sessions.begin() as session:
        request = EmailRequest(book_id=book_id, to_address="grandma@example.com", **fields)
        session.add(request)
        session.flush()
        return book_id, request.id


def _request(ctx, request_id: int) -> EmailRequest:
    with ctx.sessions() as session:
        return session.get(EmailRequest, request_id)


def _book(ctx, book_id: str) -> Book:
    with ctx.sessions() as session:
        return session.get(Book, book_id)


def test_a_mail_whose_pdf_cannot_be_fetched_goes_back_in_line_and_fails_after_the_retries(ctx, db, monkeypatch):
    _, request_id = _mail(db, ctx)
    monkeypatch.setattr(tasks, "context", lambda: ctx)

    def unreachable(name):
        raise EndpointConnectionError(endpoint_url="http://minio:9000/books/book.pdf")

    monkeypatch.setattr(ctx.storage, "local_copy", unreachable)
    with pytest.raises(EndpointConnectionError):  # called directly, a Celery retry raises the fault
        tasks.send_email(str(request_id))
    request = _request(ctx, request_id)
    assert (request.status, request.worker_id, request.attempts) == (EmailStatus.PENDING, None, 1)
    assert request.last_error == "EndpointConnectionError; the worker's log has the details"  # no URL for the page

    with ctx.sessions.begin() as session:
        session.get(EmailRequest, request_id).attempts = ctx.settings.TALES_TASK_MAX_RETRIES
    tasks.send_email(str(request_id))  # the last try: failed for good, no retry
    assert _request(ctx, request_id).status is EmailStatus.FAILED


def test_a_mail_sent_while_the_database_blinked_is_recorded_by_a_retry_and_not_sent_again(db, service_env, mailbox, monkeypatch):
    mailbox.reset()
    ctx = _ctx(db, service_env, SMTP_HOST="127.0.0.1", SMTP_PORT=mailbox.port, SMTP_FROM="books@talesrunner.test")
    _, request_id = _mail(db, ctx)
    monkeypatch.setattr(tasks, "context", lambda: ctx)
    real, blinks = tasks._finish_email, [OperationalError("UPDATE email_requests", {}, Exception("server closed the connection"))]

    def blinking(*args):
        if blinks:
            raise blinks.pop()
        real(*args)

    retried = {}

    def retry(**options):
        retried.update(options)
        return RuntimeError("retry")

    monkeypatch.setattr(tasks, "_finish_email", blinking)
    monkeypatch.setattr(tasks.send_email, "retry", retry)
    with pytest.raises(RuntimeError, match="retry"):
        tasks.send_email(str(request_id))
    assert len(mailbox.messages) == 1 and _request(ctx, request_id).status is EmailStatus.SENDING
    assert retried["kwargs"] == {"outcome": ["sent", None]}
    tasks.send_email(str(request_id), **retried["kwargs"])
    request = _request(ctx, request_id)
    assert request.status is EmailStatus.SENT and request.worker_id is None and request.sent_at
    assert len(mailbox.messages) == 1


def test_a_mail_left_sending_with_no_holder_goes_back_in_line_once_stale(ctx, db):
    # With TALES_LEASES=false a send holds no worker id; a worker killed mid-send left these.
    _, stale = _mail(db, ctx, status=EmailStatus.SENDING, attempts=1, updated_at=utcnow() - timedelta(hours=1))
    with ctx.sessions.begin() as session:
        book_id = session.get(EmailRequest, stale).book_id
        fresh = EmailRequest(book_id=book_id, to_address="aunt@example.com", status=EmailStatus.SENDING, attempts=1)
        session.add(fresh)
        session.flush()
        fresh = fresh.id
    pipeline.reconcile(ctx, timedelta(minutes=15))
    assert ctx.enqueue.sent == [(TaskName.EMAIL.value, str(stale))]
    assert _request(ctx, stale).status is EmailStatus.PENDING and _request(ctx, stale).last_error == pipeline.RESENT_NOTE
    assert _request(ctx, fresh).status is EmailStatus.SENDING  # still in its SMTP exchange, maybe


def test_a_pending_mail_is_sent_again_once_a_period_and_never_while_its_message_waits(ctx, db):
    _, request_id = _mail(db, ctx, updated_at=utcnow() - timedelta(hours=1))
    for _ in range(3):
        pipeline.reconcile(ctx, timedelta(minutes=15), queued={str(request_id)})
    assert ctx.enqueue.sent == []
    for _ in range(3):  # its message lost (or leases off): sent again, and the next sweeps wait a period
        pipeline.reconcile(ctx, timedelta(minutes=15))
    assert ctx.enqueue.sent == [(TaskName.EMAIL.value, str(request_id))]


def test_a_mail_claim_and_a_book_delete_take_their_locks_in_one_order(ctx, db):
    book_id, request_id = _mail(db, ctx)
    deleting = ctx.sessions()
    deleting.execute(select(Book.id).where(Book.id == book_id).with_for_update())  # the delete's first step
    outcome: dict[str, object] = {}

    def claim() -> None:
        try:
            with ctx.sessions.begin() as session:
                outcome["claimed"] = claim_email(session, request_id, "worker") is not None
        except Exception as exc:  # a DeadlockDetected would land here (or in the delete)
            outcome["error"] = exc

    claimer = threading.Thread(target=claim)
    claimer.start()
    with ctx.sessions() as watch:  # until the claim waits for a lock the delete holds
        while claimer.is_alive() and not watch.scalar(WAITING):
            watch.rollback()
            claimer.join(0.01)
    delete_book_rows(deleting, book_id)
    deleting.commit()
    deleting.close()
    claimer.join(10)
    assert outcome == {"claimed": False}
    assert _book(ctx, book_id) is None


def test_a_retried_book_and_each_handoff_count_worker_deaths_afresh(client, api, db, service_env):
    ctx = _ctx(db, service_env, worker_id=leases.this_process().id)  # leases on: a stage's own claim counts nothing away
    headers = api.user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form()).json["id"]
    with ctx.sessions.begin() as session:
        book = session.get(Book, book_id)
        book.status, book.lost_runs = BookStatus.FAILED, ctx.settings.TALES_MAX_LOST_RUNS
    assert client.post(f"/api/v1/books/{book_id}/retry", headers=headers).status_code == 202
    assert _book(ctx, book_id).lost_runs == 0
    for stage, status in ((pipeline.caption_stage, BookStatus.WRITING), (pipeline.write_stage, BookStatus.RENDERING),
                          (pipeline.render_stage, BookStatus.DONE)):
        with ctx.sessions.begin() as session:
            session.get(Book, book_id).lost_runs = ctx.settings.TALES_MAX_LOST_RUNS - 1
        stage(ctx, book_id)
        book = _book(ctx, book_id)
        assert (book.status, book.lost_runs) == (status, 0), stage.__name__


def test_the_suggest_worker_takes_a_book_the_caption_worker_handed_on(client, api, db, service_env):
    """The caption task runs on the gpu worker and suggest on a cpu worker: another process."""
    book_id = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data",
                          data=sample_form(with_scenes=False)).json["id"]
    captioner = _ctx(db, service_env, worker_id=leases.this_process().id)  # alive: this very process
    pipeline.caption_stage(captioner, book_id)
    assert _book(captioner, book_id).worker_id is None
    pipeline.suggest_stage(_ctx(db, service_env, worker_id="cpu-host:77:feedbeef"), book_id)
    assert _book(captioner, book_id).status is BookStatus.AWAITING_ANNOTATIONS


def test_a_worker_death_during_suggest_resends_suggest_and_names_it_in_the_dead_letter(client, api, ctx):
    book_id = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data",
                          data=sample_form(with_scenes=False)).json["id"]
    pipeline.caption_stage(ctx, book_id)
    with ctx.sessions.begin() as session:
        session.get(Book, book_id).worker_id = GONE  # suggest's worker, killed
    assert pipeline.reconcile(ctx, timedelta(minutes=15)) == [book_id]
    assert ctx.enqueue.sent[-1] == (TaskName.SUGGEST.value, book_id)
    with ctx.sessions.begin() as session:
        book = session.get(Book, book_id)
        book.worker_id, book.lost_runs = GONE, ctx.settings.TALES_MAX_LOST_RUNS - 1
    pipeline.reconcile(ctx, timedelta(minutes=15))
    assert _book(ctx, book_id).status is BookStatus.FAILED
    with ctx.sessions() as session:
        [letter] = session.scalars(select(DeadLetter)).all()
        assert letter.task == TaskName.SUGGEST.value


@pytest.mark.parametrize("fault", [
    EndpointConnectionError(endpoint_url="http://minio:9000"),
    ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject"),
    ClientError({"Error": {"Code": "RequestTimeout"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject"),
])
def test_an_object_store_blip_is_retried_not_the_books_end(client, api, ctx, monkeypatch, fault):
    book_id = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data", data=sample_form()).json["id"]
    monkeypatch.setattr(tasks, "context", lambda: ctx)

    def blip(_ctx, _book_id):
        raise fault

    monkeypatch.setattr(pipeline, "caption_stage", blip)
    with pytest.raises(type(fault)):  # called directly, a Celery retry raises the fault
        tasks.caption_book(book_id)
    assert _book(ctx, book_id).status is BookStatus.QUEUED


def test_an_object_store_answer_that_will_not_change_fails_the_book_in_plain_words(client, api, ctx, monkeypatch):
    book_id = client.post("/api/v1/books", headers=api.user(), content_type="multipart/form-data", data=sample_form()).json["id"]
    monkeypatch.setattr(tasks, "context", lambda: ctx)

    def missing(_ctx, _book_id):
        raise ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject")

    monkeypatch.setattr(pipeline, "caption_stage", missing)
    tasks.caption_book(book_id)
    book = _book(ctx, book_id)
    assert book.status is BookStatus.FAILED and "예상하지 못한 문제" in book.error and "NoSuchKey" not in book.error
