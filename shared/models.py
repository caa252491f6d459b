"""SQLAlchemy 2.0 models: the database is the source of truth for every book."""
from __future__ import annotations

import enum
import hashlib
import re
import secrets
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.util import identity_key

from shared.audio import PageAudio, SentenceTiming
from shared.mail_text import without_bidi
from shared.status import BookStatus, EmailStatus
from shared.styles import PHOTO
from shared.vocabulary import UNTITLED, default_title

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC, the same on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_public_id() -> str:
    """An unguessable id for a book, used in URLs."""
    return secrets.token_hex(16)


def new_seed() -> int:
    """A book's drawing seed (31 bits, so every database stores it as an integer)."""
    return secrets.randbits(31)


def _values(enum_type: type[enum.Enum]) -> list[str]:
    """Store an enum by its value ("done"), not its Python name ("DONE")."""
    return [member.value for member in enum_type]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # When the owner proved the address is theirs (the link in the confirmation mail); until then
    # the account mails nobody but itself.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")
    books: Mapped[list[Book]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    """A personal API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100), default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class Book(Base):
    __tablename__ = "books"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))  # the user's own title, if any
    # The title the writer made when the user gave none (docs/architecture.md, "The book plan").
    generated_title: Mapped[str | None] = mapped_column(String(200))
    # The reader age band (shared.vocabulary.AGE_BANDS), or None for the writers' default.
    age: Mapped[str | None] = mapped_column(String(16))
    # The main character and company typed once for the book (web.schemas.BookHints): where the
    # scenes' hints come later, each scene's form starts from them.
    hint_defaults: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[BookStatus] = mapped_column(
        Enum(BookStatus, native_enum=False, length=32, values_callable=_values),
        default=BookStatus.QUEUED,
        index=True,
    )
    stage: Mapped[str | None] = mapped_column(String(32))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Plain-language remarks about how the book was made (offline writer, untranslated captions).
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    email_when_done: Mapped[bool] = mapped_column(Boolean, default=False)
    pdf_name: Mapped[str | None] = mapped_column(String(255))
    pdf_bytes: Mapped[int | None] = mapped_column(Integer)
    # The read-along e-book (EPUB 3), built with the PDF.
    epub_name: Mapped[str | None] = mapped_column(String(255))
    epub_bytes: Mapped[int | None] = mapped_column(Integer)
    # How the pages are read aloud, as parents are told (the narrator's label); None: not narrated.
    narrator_label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # The worker process working on the book now (`workers.id`); None while it waits for a message.
    worker_id: Mapped[str | None] = mapped_column(String(64))
    # How many times a worker died while working on it; at TALES_MAX_LOST_RUNS it is failed.
    lost_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The picture style the parent picked (shared.styles; "photo" keeps the photos as taken), and
    # the book's drawing seed: every page's seed comes from it, so a book redraws the same unless asked.
    style: Mapped[str] = mapped_column(String(16), default=PHOTO, server_default=PHOTO)
    seed: Mapped[int] = mapped_column(Integer, default=new_seed, server_default="0")
    # Who the book is for, in the parent's words ("하은이에게"), set on the ending page.
    dedication: Mapped[str | None] = mapped_column(String(100))

    user: Mapped[User] = relationship(back_populates="books")
    scenes: Mapped[list[Scene]] = relationship(
        back_populates="book", cascade="all, delete-orphan", order_by="Scene.index"
    )
    emails: Mapped[list[EmailRequest]] = relationship(back_populates="book", cascade="all, delete-orphan")
    links: Mapped[list[ShareLink]] = relationship(back_populates="book", cascade="all, delete-orphan")

    @property
    def shown_title(self) -> str | None:
        """The title on the cover: the user's, else the generated one."""
        return self.title or self.generated_title

    @property
    def display_title(self) -> str:
        """The one title pages, files, mails, the PDF and the e-book show: the user's, the writer's, or one from the hero's name."""
        if self.shown_title:
            return self.shown_title
        name = (self.scenes[0].annotations or {}).get("name") if self.scenes else None
        name = name or (self.hint_defaults or {}).get("name")
        return default_title(name) if name else UNTITLED

    @property
    def file_stem(self) -> str:
        """The title as a file name (download and attachment): no path, reserved or bidirectional control characters, at most 60."""
        stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", self.display_title)
        stem = without_bidi(stem)  # U+202E + "fdp.exe" shows as "exe.pdf"
        return " ".join(stem.split())[:60].strip(" .") or "talesrunner"

    @property
    def has_annotations(self) -> bool:
        return bool(self.scenes) and all(scene.annotations for scene in self.scenes)


class Scene(Base):
    __tablename__ = "scenes"
    __table_args__ = (UniqueConstraint("book_id", "index", name="uq_scenes_book_id_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    # 1-based position of the scene in the book, as the user ordered the photos.
    index: Mapped[int] = mapped_column(Integer)
    image_name: Mapped[str] = mapped_column(String(255))
    image_format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    caption: Mapped[str | None] = mapped_column(Text)
    caption_lang: Mapped[str | None] = mapped_column(String(8))
    caption_source: Mapped[str | None] = mapped_column(Text)
    # The captioner's English words before translation: what a drawing model is told the page shows.
    caption_en: Mapped[str | None] = mapped_column(Text)
    suggestions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    text_source: Mapped[str | None] = mapped_column(String(16))
    # The text a rewrite ("N쪽 새로 쓰기") replaced, kept so the parent can go back to it; cleared
    # when the page is edited by hand or the rewrite is undone.
    previous_text: Mapped[str | None] = mapped_column(Text)
    # After a rewrite: the writer's other candidates for the page, offered beside it ("다른 글 보기");
    # every text the page has shown or offered, none of which a rewrite may give again; how many
    # times it was rewritten (with the page, what seeds the template writer's wording); and whether
    # the last rewrite found nothing new (the page says so instead of pretending).
    alternatives: Mapped[list[str] | None] = mapped_column(JSON)
    shown_texts: Mapped[list[str] | None] = mapped_column(JSON)
    rewrites: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    nothing_new: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The page read aloud (worker/audio): the stored file, the text it reads (a page whose text
    # changed is narrated again), its length and per-sentence timings [[text, start, end], ...].
    audio_name: Mapped[str | None] = mapped_column(String(255))
    audio_text: Mapped[str | None] = mapped_column(Text)
    audio_duration: Mapped[float | None] = mapped_column(Float)
    audio_sentences: Mapped[list[Any] | None] = mapped_column(JSON)
    # The page's picture (docs/pictures.md): the drawn file, the style it was settled in (drawn, or
    # given up on: then picture_name is None and the photo is printed), who drew it ("filter",
    # "diffusers", "openai"), how often the parent asked for it again (each time a new seed), and
    # whether the parent set the page back to its photo. The photo itself is never changed.
    picture_name: Mapped[str | None] = mapped_column(String(255))
    picture_style: Mapped[str | None] = mapped_column(String(16))
    picture_source: Mapped[str | None] = mapped_column(String(32))
    redraws: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    use_photo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The worker process drawing this page now, so a second draw task leaves it to that one.
    drawing_by: Mapped[str | None] = mapped_column(String(64))

    book: Mapped[Book] = relationship(back_populates="scenes")

    @property
    def needs_picture(self) -> bool:
        """True while the page waits to be drawn in its book's style."""
        return self.book.style != PHOTO and not self.use_photo and self.picture_style != self.book.style

    @property
    def printed_picture(self) -> str:
        """The stored file printed on the page: the drawing in the book's style, else the photo."""
        drawn = not self.use_photo and self.picture_name and self.picture_style == self.book.style
        return self.picture_name if drawn else self.image_name

    @property
    def picture_version(self) -> str:
        """Names the printed picture in its URLs: a redraw or the photo chosen is a new URL, so browsers may keep each."""
        return PurePosixPath(self.printed_picture).stem

    @property
    def picture_seed(self) -> int:
        """This page's drawing seed: the book's, the page and the redraw count mixed (stable across runs)."""
        digest = hashlib.sha256(f"{self.book.seed}:{self.index}:{self.redraws}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    @property
    def audio(self) -> PageAudio | None:
        """The page's narration, when it reads the page's text as it is now."""
        if not self.audio_name or self.audio_text != self.text or self.audio_duration is None:
            return None
        sentences = tuple(SentenceTiming(str(text), float(start), float(end)) for text, start, end in self.audio_sentences or [])
        return PageAudio(self.index, self.audio_name, "audio/mpeg", self.audio_duration, sentences)


class EmailRequest(Base):
    """One request to mail a finished book; sent at most once."""

    __tablename__ = "email_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    # Who the mail says it is from ("<sender> (TalesRunner)") and a few words above the book.
    sender_name: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[EmailStatus] = mapped_column(
        Enum(EmailStatus, native_enum=False, length=16, values_callable=_values), default=EmailStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # When it was last claimed, put back, finished or sent again: the reconciler's clock, as a book's updated_at.
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The worker process in the SMTP exchange while the request is `sending`.
    worker_id: Mapped[str | None] = mapped_column(String(64))

    book: Mapped[Book] = relationship(back_populates="emails")

    @property
    def message_id(self) -> str:
        """The mail's Message-ID, the same on every attempt, so a resent copy is known as the same mail."""
        return f"<talesrunner-email-{self.id}.{self.book_id}@talesrunner>"


def new_link_token() -> str:
    """The secret part of a share link's address (256 bits)."""
    return secrets.token_urlsafe(32)


class ShareLink(Base):
    """A link that opens one book read-only without an account, until it expires or is revoked.

    Revoking deletes the row, so the address answers 404 at once; a password reset and deleting
    the book end every link of the account or book.
    """

    __tablename__ = "share_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_link_token)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)

    book: Mapped[Book] = relationship(back_populates="links")


class TranscriptionStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Transcription(Base):
    """One spoken hint: the audio until it is transcribed (then deleted), the text and the hints parsed from it."""

    __tablename__ = "transcriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[TranscriptionStatus] = mapped_column(
        Enum(TranscriptionStatus, native_enum=False, length=16, values_callable=_values),
        default=TranscriptionStatus.QUEUED,
        index=True,
    )
    # The stored audio (as uploaded) while it waits; None once transcribed or given up on.
    audio_name: Mapped[str | None] = mapped_column(String(255))
    audio_format: Mapped[str | None] = mapped_column(String(16))
    duration_s: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    hints: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What transcribed it ("whisper:<model>", "openai:<model>"), for the logs and the API.
    source: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)  # a Korean sentence for the parent
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # The worker process transcribing it now, and how many workers died doing so (as books).
    worker_id: Mapped[str | None] = mapped_column(String(64))
    lost_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WorkerProcess(Base):
    """A worker process that is alive as long as it beats (`heartbeat_at`); it holds books by id."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class DeadLetter(Base):
    """Work given up on for good (a book that killed its worker again and again), kept for an operator."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "book" or "email"
    ref: Mapped[str] = mapped_column(String(64), index=True)  # the book id or email request id
    task: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LoginSession(Base):
    """A browser session; logging out deletes it, so a copied cookie stops working at once."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the id in the cookie
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def touch_book(session: Session, book_id: str) -> None:
    """Mark a book changed (books.updated_at) when only one of its parts changed."""
    session.execute(
        update(Book).where(Book.id == book_id).values(updated_at=utcnow()).execution_options(synchronize_session=False)
    )


@event.listens_for(Session, "before_flush")
def _parts_change_their_book(session: Session, _context, _instances) -> None:
    # A scene or an email request that changes changes its book: the status poll's cache and
    # ETags key on books.updated_at (docs/architecture.md, "The status poll").
    parts = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, (Scene, EmailRequest))]
    for book_id in {part.book_id for part in parts if part.book_id is not None}:
        book = session.identity_map.get(identity_key(Book, book_id))
        if book is not None and book not in session.deleted:
            book.updated_at = utcnow()
        elif book is None:
            touch_book(session, book_id)
