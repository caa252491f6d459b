"""One owner for every state change (books and emails) and one shared vocabulary."""
from __future__ import annotations

import pytest

from shared.config import Settings
from shared.db import session_factory
from shared.lifecycle import WrongState, claim_email, claim_or_refuse, email_retries, finish_email, require, stage_retries
from shared.models import Book, EmailRequest, User
from shared.status import EMAIL_TRANSITIONS, TRANSITIONS, BookStatus, EmailStatus, InvalidTransition, Stage
from shared.story_input import OPTIONAL_FIELDS, REQUIRED_FIELDS
from shared.vocabulary import (
    EMAIL_LABELS,
    HINT_FIELDS,
    STAGE_LABELS,
    STAGE_OPERATOR_NAMES,
    STATUS_LABELS,
    default_title,
    has_final_consonant,
    obj,
    subject,
    topic,
    with_,
)
from web.schemas import SceneAnnotation


def _book_with_email(db, status: BookStatus = BookStatus.DONE) -> tuple[str, int]:
    with session_factory(db).begin() as session:
        user = User(email="parent@example.com", password_hash="x")
        session.add(user)
        session.flush()
        book = Book(user_id=user.id, status=status)
        session.add(book)
        session.flush()
        request = EmailRequest(book_id=book.id, to_address="grandma@example.com")
        session.add(request)
        session.flush()
        return book.id, request.id


def test_an_email_request_is_claimed_for_sending_once(db):
    _, request_id = _book_with_email(db)
    with session_factory(db).begin() as session:
        first = claim_email(session, request_id)
        assert first is not None and first.status is EmailStatus.SENDING and first.attempts == 1
    with session_factory(db).begin() as session:
        assert claim_email(session, request_id) is None


def test_a_finished_email_cannot_be_moved_again(db):
    _, request_id = _book_with_email(db)
    with session_factory(db).begin() as session:
        request = claim_email(session, request_id)
        finish_email(request, EmailStatus.SENT)
        assert request.sent_at is not None and request.last_error is None
        with pytest.raises(InvalidTransition):
            finish_email(request, EmailStatus.PENDING)


def test_a_temporary_failure_puts_the_email_back_in_line_with_its_reason(db):
    _, request_id = _book_with_email(db)
    with session_factory(db).begin() as session:
        finish_email(claim_email(session, request_id), EmailStatus.PENDING, "SMTPServerDisconnected: gone")
    with session_factory(db).begin() as session:
        again = claim_email(session, request_id)
        assert again.attempts == 2 and again.last_error == "SMTPServerDisconnected: gone"


def test_a_refused_move_names_the_state_the_book_is_in(db):
    book_id, _ = _book_with_email(db, BookStatus.QUEUED)
    with session_factory(db)() as session:
        book = session.get(Book, book_id)
        with pytest.raises(WrongState) as refused:
            claim_or_refuse(session, book, [BookStatus.DONE], BookStatus.RENDERING)
        assert str(refused.value) == "the book must be done to go to rendering; it is queued"
        assert session.get(Book, book_id).status is BookStatus.QUEUED
        with pytest.raises(WrongState, match="must be awaiting_annotations or failed; it is queued"):
            require(book, [BookStatus.AWAITING_ANNOTATIONS, BookStatus.FAILED])


def test_a_move_the_transition_table_forbids_is_a_programming_error_not_a_refusal(db):
    book_id, _ = _book_with_email(db, BookStatus.QUEUED)
    with session_factory(db)() as session, pytest.raises(InvalidTransition):
        claim_or_refuse(session, session.get(Book, book_id), [BookStatus.QUEUED], BookStatus.DONE)


def test_retries_double_from_their_base_up_to_a_cap():
    settings = Settings(TALES_TASK_MAX_RETRIES=3, TALES_TASK_RETRY_BASE_S=2, TALES_EMAIL_RETRY_BASE_S=100)
    stages, emails = stage_retries(settings), email_retries(settings)
    assert [stages.delay(n) for n in range(4)] == [2, 4, 8, 16]
    assert [emails.delay(n) for n in range(4)] == [100, 200, 400, 600]
    assert [stages.may_retry(n) for n in range(5)] == [True, True, True, False, False]
    assert emails.max_retries == stages.max_retries == 3


def test_every_state_has_a_label_and_a_row_in_its_transition_table():
    assert set(STATUS_LABELS) == set(BookStatus) == set(TRANSITIONS)
    assert set(EMAIL_LABELS) == set(EmailStatus) == set(EMAIL_TRANSITIONS)
    assert set(STAGE_LABELS) == set(STAGE_OPERATOR_NAMES) == set(Stage)


def test_the_hint_fields_are_the_same_for_the_forms_the_api_and_the_model():
    assert tuple(SceneAnnotation.model_fields) == HINT_FIELDS
    assert REQUIRED_FIELDS[0] == "caption" and REQUIRED_FIELDS[1:] + OPTIONAL_FIELDS == HINT_FIELDS


@pytest.mark.parametrize("word, final", [("토끼", False), ("곰", True), ("하은", True), ("3", True), ("2", False), ("BTS", False), ("Sam", True), ("", False)])
def test_a_final_consonant_is_read_from_the_last_sound(word, final):
    assert has_final_consonant(word) is final


def test_particles_follow_the_final_consonant():
    assert [topic("곰"), topic("토끼"), subject("곰"), subject("토끼")] == ["곰은", "토끼는", "곰이", "토끼가"]
    assert [obj("당근"), obj("사과"), with_("엄마"), with_("동생")] == ["당근을", "사과를", "엄마와", "동생과"]


def test_the_default_title_names_the_protagonist_when_there_is_one():
    assert default_title("나비") == "나비의 이야기"
    assert default_title(None) == default_title("") == "우리의 그림책"
