"""The one status vocabulary of a book, and the moves allowed between states."""
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

    @property
    def is_active(self) -> bool:
        """True while a worker owes this book some work."""
        return self in ACTIVE


class Stage(str, enum.Enum):
    """What a worker is doing now; progress done/total is per stage."""

    CAPTION = "caption"
    SUGGEST = "suggest"
    WRITE = "write"
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


class InvalidTransition(Exception):
    """A book was asked to move between two states that are not connected."""

    def __init__(self, current: BookStatus, target: BookStatus):
        super().__init__(f"a book cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: BookStatus, target: BookStatus) -> None:
    """Raise InvalidTransition unless current -> target is allowed."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
