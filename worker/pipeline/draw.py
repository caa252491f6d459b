"""The draw stage: every page still to be drawn in the book's style, in one illustrator call.

It starts as soon as the captions are in, beside the writer (both are sent together), and the
render waits for both: the writer's last step sees pages still to be drawn and leaves the book
`rendering` at stage `draw`; whichever draw run settles the last page sends the book on. Each
page is marked with the process drawing it, so a second run (the writer's, a redelivery) leaves
a live run's pages alone. A drawing never fails the book: on any failure the page keeps its photo,
with a note saying so.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

from shared.decoding import open_upright
from shared.jobs import TaskName
from shared.leases import is_gone
from shared.lifecycle import add_note, claim, drop_notes, set_progress, to_rendering
from shared.models import Book, Scene
from shared.status import BookStatus, Stage
from shared.styles import STYLES
from worker.errors import StageError
from worker.illustration.backends import drawing_side, get_illustrator
from worker.illustration.base import PageToDraw, PartlyDrawn
from worker.ml import presence
from worker.pipeline.context import Context, load_book, reason_for_parents, take_book

log = logging.getLogger(__name__)

# The note a page left with its photo carries (its reason follows); a later drawing takes it away.
DRAWING_FAILED = "그림을 그리지 못해 사진을 그대로 실었어요"
JPEG_QUALITY = 90


@dataclass(frozen=True)
class _Job:
    scene_id: int
    index: int
    photo: str
    caption: str
    seed: int
    redraws: int


def draw_stage(ctx: Context, book_id: str) -> None:
    """Draw the pages that wait for a picture; then, if the book waits on them, send it on."""
    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is None or book.status not in (BookStatus.WRITING, BookStatus.RENDERING):
            return
        waiting = book.status is BookStatus.RENDERING
        if waiting:
            if book.stage != Stage.DRAW.value:
                return  # a late copy of this task: the book went on without it
            # The book waits on the pictures: this run holds it, so a dead worker is noticed and counted.
            book = take_book(ctx, session, book_id, [BookStatus.RENDERING], BookStatus.RENDERING, TaskName.DRAW)
            if book is None:
                return
        style = book.style
        jobs = [_job(scene) for scene in book.scenes if scene.needs_picture and _free(ctx, session, scene)]
        if jobs and waiting and book.lost_runs >= ctx.settings.TALES_MAX_LOST_RUNS:
            log.error("drawing book %s stopped its worker %d times; its pages keep their photos", book_id, book.lost_runs)
            _settle_as_photos(book, {job.scene_id for job in jobs}, f"그리는 동안 작업이 {book.lost_runs}번 멈췄어요")
            jobs = []
        drawing = {job.scene_id for job in jobs}
        for scene in book.scenes:
            if scene.id in drawing:
                scene.drawing_by = ctx.worker_id
        if waiting:
            _progress(book)

    if jobs:
        _draw(ctx, book_id, style, jobs)
    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is None:
            return
        if ctx.worker_id is not None and book.worker_id == ctx.worker_id:
            # Let go, whether or not the book goes on now: a live holder would keep the reconciler
            # from ever sending the book again if the run drawing the other pages died.
            book.worker_id = None
        send_on_when_drawn(ctx, session, book)


def send_on_when_drawn(ctx: Context, session, book: Book) -> None:
    """A book that waits at stage `draw` goes on (narration or render) once no page waits to be drawn."""
    if book.status is not BookStatus.RENDERING or book.stage != Stage.DRAW.value:
        return
    if any(scene.needs_picture for scene in book.scenes):
        return  # another run is drawing the rest and sends it on
    book = claim(session, book.id, [BookStatus.RENDERING], BookStatus.RENDERING)  # the handoff clears the holder
    if book is None:
        return
    stage, task, total = to_rendering(book, ctx.settings)
    set_progress(book, stage, 0, total)
    ctx.enqueue(session, task, book.id)


def _job(scene: Scene) -> _Job:
    # The drawing models are told in English what the page shows; captions kept in English are that.
    caption = scene.caption_en or (scene.caption if scene.caption_lang == "en" else "") or ""
    return _Job(scene.id, scene.index, scene.image_name, caption, scene.picture_seed, scene.redraws)


def _free(ctx: Context, session, scene: Scene) -> bool:
    """True unless another live process is drawing this page now."""
    holder = scene.drawing_by
    return holder is None or holder == ctx.worker_id or is_gone(session, holder, ctx.settings)


def _draw(ctx: Context, book_id: str, style_id: str, jobs: list[_Job]) -> None:
    """Draw the pages, store each picture under a new name, record them; on failure the photos stay."""
    style = STYLES.get(style_id)
    stored: dict[int, str] = {}
    flagged: list[int] = []
    illustrator = None
    try:
        presence.require(ctx.settings, "illustrator")  # no model there: the photos stay, with a note and the fix
        illustrator = get_illustrator(ctx.settings)
        if illustrator is None or style is None:
            raise StageError(f"이 서버는 그림을 그리지 않아요 (TALES_ILLUSTRATOR={ctx.settings.TALES_ILLUSTRATOR}, style {style_id})")
        side = drawing_side(ctx.settings)
        pages = []
        for job in jobs:  # one photo decoded at a time, reduced to the size drawn
            with ctx.storage.local_copy(job.photo) as path:
                pages.append(PageToDraw(picture=open_upright(path, side), caption=job.caption, seed=job.seed))
        try:
            pictures = illustrator.draw(pages, style)
        except PartlyDrawn as partly:
            for position, picture in partly.drawn.items():  # kept: the rest keep their photos, saying why
                stored[jobs[position].scene_id] = _store(ctx, book_id, style_id, jobs[position], picture)
            raise
        for job, picture in zip(jobs, pictures, strict=True):
            if picture is None:  # the model's safety checker refused this page: it keeps its photo
                flagged.append(job.index)
                continue
            stored[job.scene_id] = _store(ctx, book_id, style_id, job, picture)
    except Exception as exc:
        why = reason_for_parents(exc, f"book {book_id} keeps its photos")
        with ctx.sessions.begin() as session:
            book = load_book(session, book_id)
            if book is not None:
                _settle_as_photos(book, {job.scene_id for job in jobs if job.scene_id not in stored}, why)
                _record(ctx, book, jobs, stored, style_id, illustrator)
        return
    with ctx.sessions.begin() as session:
        book = load_book(session, book_id)
        if book is None:
            return  # deleted while it was drawn: the delete removed the book's folder, or the orphan sweep will
        if flagged:
            _settle_as_photos(book, {job.scene_id for job in jobs if job.index in flagged},
                              f"{', '.join(map(str, flagged))}쪽은 그림 모델의 안전 검사에 걸렸어요")
        _record(ctx, book, jobs, stored, style_id, illustrator)


def _store(ctx: Context, book_id: str, style_id: str, job: _Job, picture: Image.Image) -> str:
    """The page's picture written under a name of its own (book, page, style, seed); that name."""
    name = ctx.storage.picture_name(book_id, job.index, style_id, job.seed)
    ctx.storage.write_bytes(name, _jpeg(picture))
    return name


def _record(ctx: Context, book: Book, jobs: list[_Job], stored: dict[int, str], style_id: str, illustrator) -> None:
    """Put the new pictures on their pages, unless the page was asked again or the style changed meanwhile."""
    by_id = {scene.id: scene for scene in book.scenes}
    for job in jobs:
        scene = by_id.get(job.scene_id)
        if scene is None or scene.drawing_by not in (None, ctx.worker_id):
            continue
        scene.drawing_by = None
        name = stored.get(job.scene_id)
        if name is None or scene.redraws != job.redraws or book.style != style_id:
            continue
        scene.picture_name, scene.picture_style, scene.picture_source = name, style_id, illustrator.name
    if stored and not any(scene.picture_style == style_id and scene.picture_name is None for scene in book.scenes):
        drop_notes(book, DRAWING_FAILED)
    note = getattr(illustrator, "note", None)
    if stored and note:
        add_note(book, f"시험용 모델이 그린 그림이에요 ({note}).")
    if book.status is BookStatus.RENDERING and book.stage == Stage.DRAW.value:
        _progress(book)


def _progress(book: Book) -> None:
    """Stage `draw`: the pages settled (drawn, or kept as photos) of all the book's pages."""
    set_progress(book, Stage.DRAW, sum(1 for scene in book.scenes if not scene.needs_picture), len(book.scenes))


def _settle_as_photos(book: Book, scene_ids: set[int], why: str) -> None:
    """The pages keep their photos in this style (not drawn again by itself), and the book says why."""
    for scene in book.scenes:
        if scene.id in scene_ids:
            scene.picture_name, scene.picture_style, scene.picture_source, scene.drawing_by = None, book.style, "photo", None
    if scene_ids:
        add_note(book, f"{DRAWING_FAILED}: {why}")


def _jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
