"""A real `talesrunner worker` with fault hooks, for tests/faults/ only.

FAULT_DIR      folder where the hooks leave a marker file `<stage>` when a stage is entered
FAULT_PAUSE    stage names (caption, suggest, write, narrate, render, email) whose work sleeps FAULT_PAUSE_S first,
               so a test can kill the worker inside that stage
FAULT_POISON   a stage in which the process kills itself (SIGKILL), as a poison book would
FAULT_TEXT     "plain": one fixed sentence per scene, fixed keywords and a plain book plan, instead of
               the template writer, kiwi suggester and planner (whose Korean analyser takes 10-30 s to
               load in every new process)
The hooks wrap the stage's own work (captioner, suggester, writer, narrator, render_book, SMTP send);
everything else is the production worker unchanged.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

PAUSED = set(filter(None, os.environ.get("FAULT_PAUSE", "").split(",")))
POISON = os.environ.get("FAULT_POISON", "")
PAUSE_S = float(os.environ.get("FAULT_PAUSE_S", "60"))
MARKERS = Path(os.environ.get("FAULT_DIR", "/tmp"))


def _enter(stage: str) -> None:
    (MARKERS / f"{stage}.{os.getpid()}").write_text(str(time.time()))
    if stage == POISON:
        os.kill(os.getpid(), signal.SIGKILL)
    if stage in PAUSED:
        time.sleep(PAUSE_S)


def _hooked(stage: str, function):
    def wrapper(*args, **kwargs):
        _enter(stage)
        return function(*args, **kwargs)

    return wrapper


def install() -> None:
    from worker import mailer, pipeline

    # Each stage module looks its backend up by name: hooked where the stage reads it.
    for module, name, stage in ((pipeline.caption, "get_captioner", "caption"), (pipeline.write, "get_writer", "write")):
        original = getattr(module, name)

        def factory(settings, _original=original, _stage=stage):
            backend = _original(settings)
            method = "caption" if _stage == "caption" else "write_book"
            setattr(backend, method, _hooked(_stage, getattr(backend, method)))
            return backend

        setattr(module, name, factory)
    original_suggester = pipeline.caption.keywords.get_suggester

    def suggester(settings):
        backend = original_suggester(settings)
        backend.suggest = _hooked("suggest", backend.suggest)
        return backend

    pipeline.caption.keywords.get_suggester = suggester
    original_narrator = pipeline.narrate.get_narrator

    def narrator(settings):
        backend = original_narrator(settings)
        if backend is not None:
            backend.narrate = _hooked("narrate", backend.narrate)
        return backend

    pipeline.narrate.get_narrator = narrator
    pipeline.render.pdf.render_book = _hooked("render", pipeline.render.pdf.render_book)
    mailer.send = _hooked("email", mailer.send)
    if os.environ.get("FAULT_TEXT") == "plain":
        _plain_text(pipeline)
    # Celery's start-up handshakes with other workers cost a second per start and nothing here.
    import worker

    original_main = worker.celery.worker_main
    worker.celery.worker_main = lambda argv: original_main([*argv, "--without-mingle", "--without-gossip"])


class _PlainWriter:
    name = "plain"

    def write(self, scenes, plan=None):
        return [f"{scene.index}쪽에서 {scene.fields.get('name', '아이')}가 놀았어요." for scene in scenes]

    def write_book(self, scenes, plan=None):
        # The writer interface of worker/ml/writer.py: the pages (through the hooked `write`) and a title.
        from worker.ml.plan import Draft

        return Draft(texts=self.write(scenes, plan), title=plan.title if plan else "")


class _PlainSuggester:
    name = "plain"

    def suggest(self, captions):
        return [{"setting": ["공원", "집", "바다"], "action": ["놀기", "걷기", "뛰기"], "feeling": ["기쁨", "설렘", "행복"]}
                for _ in captions]


def _plain_text(pipeline) -> None:
    from worker.ml import plan

    def cheap_plan(scenes, title=None, age=None):
        # The real plan reads the hints with kiwi too; a plain one keeps the stage's own steps.
        band = age if age in plan.AGE_STYLES else plan.DEFAULT_AGE
        return plan.BookPlan(total=max([scene.index for scene in scenes] + [1]), title=title or "그림책",
                             title_is_new=not title, age=band, style=plan.AGE_STYLES[band])

    pipeline.write.make_plan = cheap_plan
    write_factory, suggest_factory = pipeline.write.get_writer, pipeline.caption.keywords.get_suggester
    pipeline.write.get_writer = lambda settings: _wrap(write_factory, settings, _PlainWriter(), "write_book")
    pipeline.caption.keywords.get_suggester = lambda settings: _wrap(suggest_factory, settings, _PlainSuggester(), "suggest")


def _wrap(_factory, _settings, backend, method):
    stage = {"write_book": "write"}.get(method, method)
    setattr(backend, method, _hooked(stage, getattr(backend, method)))
    return backend


if __name__ == "__main__":
    install()
    from talesrunner.cli import main

    sys.exit(main(["worker", *sys.argv[1:]]))
