"""The status vocabulary of books and email requests, and the moves allowed between states."""
from __future__ import annotations

import enum


class BookStatus(str, enum.Enum):
    QUEUED = "queued"
    CAPTIONING = "captioning"
    AWAITING_ANNOTATIONS = "awaiting_annotations"
    WRITING = "writing"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"


class Stage(str, enum.Enum):
    """What a worker is doing now; progress done/total is per stage."""

    CAPTION = "caption"
    SUGGEST = "suggest"
    WRITE = "write"
    DRAW = "draw"
    NARRATE = "narrate"
    RENDER = "render"


ACTIVE = frozenset(
    {BookStatus.QUEUED, BookStatus.CAPTIONING, BookStatus.WRITING, BookStatus.RENDERING}
)

# Every move a book may make. A state may always be "re-entered" by a retried task,
# which is why each running state lists itself.
TRANSITIONS: dict[BookStatus, frozenset[BookStatus]] = {
    BookStatus.QUEUED: frozenset({BookStatus.CAPTIONING, BookStatus.FAILED}),
    BookStatus.CAPTIONING: frozenset(
        {BookStatus.CAPTIONING, BookStatus.AWAITING_ANNOTATIONS, BookStatus.WRITING, BookStatus.FAILED}
    ),
    BookStatus.AWAITING_ANNOTATIONS: frozenset({BookStatus.WRITING, BookStatus.FAILED}),
    BookStatus.WRITING: frozenset({BookStatus.WRITING, BookStatus.RENDERING, BookStatus.FAILED}),
    BookStatus.RENDERING: frozenset({BookStatus.RENDERING, BookStatus.DONE, BookStatus.FAILED}),
    # A finished book goes back to work when a page is edited or regenerated.
    BookStatus.DONE: frozenset({BookStatus.RENDERING, BookStatus.WRITING}),
    # Retry: captions are kept, so a failed book restarts where it stopped.
    BookStatus.FAILED: frozenset({BookStatus.QUEUED}),
}




class EmailStatus(str, enum.Enum):
    """Where one request to mail a book stands; it is sent at most once."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


EMAIL_TRANSITIONS: dict[EmailStatus, frozenset[EmailStatus]] = {
    # A worker claims the request before it talks to the SMTP server.
    EmailStatus.PENDING: frozenset({EmailStatus.SENDING, EmailStatus.FAILED}),
    # A temporary SMTP failure puts it back in line; a permanent one ends it.
    EmailStatus.SENDING: frozenset({EmailStatus.SENT, EmailStatus.PENDING, EmailStatus.FAILED}),
    EmailStatus.SENT: frozenset(),
    EmailStatus.FAILED: frozenset(),
}


class InvalidTransition(Exception):
    """A book or an email request was asked to move between two states that are not connected."""

    def __init__(self, current: BookStatus | EmailStatus, target: BookStatus | EmailStatus):
        super().__init__(f"cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: BookStatus | EmailStatus, target: BookStatus | EmailStatus) -> None:
    """Raise InvalidTransition unless current -> target is allowed."""
    table = TRANSITIONS if isinstance(current, BookStatus) else EMAIL_TRANSITIONS
    if target not in table[current]:
        raise InvalidTransition(current, target)
