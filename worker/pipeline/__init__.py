"""The pipeline stages as plain functions over book ids, testable without Celery.

Each stage loads the book, claims it with a compare-and-set on its status, does its work,
writes results and progress, and names the next task. Running a stage twice is harmless:
the second run finds nothing left to do or loses the claim. One module a stage:

    context.py   what every stage is given, and how it claims its book
    caption.py   caption (one batch per book, then translation) and keyword suggestions
    write.py     the paragraphs, one writer call per book
    draw.py      the pictures, drawn from the photos in the book's style beside the writing
    narrate.py   the pages read aloud
    render.py    the PDF and the read-along e-book
    recovery.py  failed books, lost work sent again, files without a book
    transcribe.py  spoken hints: a recording to text and hints, the recording deleted
"""
from worker.pipeline.caption import caption_stage, suggest_stage
from worker.pipeline.context import Context, Enqueue
from worker.pipeline.draw import DRAWING_FAILED, draw_stage
from worker.pipeline.narrate import NARRATION_FAILED, narrate_stage
from worker.pipeline.recovery import RESENT_NOTE, fail_book, reconcile, remove_orphans, resume_task
from worker.pipeline.render import render_stage
from worker.pipeline.transcribe import fail_transcription, release_transcription, transcribe_stage
from worker.pipeline.write import write_stage

__all__ = [
    "DRAWING_FAILED", "NARRATION_FAILED", "RESENT_NOTE", "Context", "Enqueue", "caption_stage", "draw_stage", "fail_book",
    "narrate_stage",
    "reconcile", "remove_orphans", "render_stage", "resume_task", "suggest_stage", "write_stage",
    "fail_transcription", "release_transcription", "transcribe_stage",
]
