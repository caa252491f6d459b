"""A rewrite that really differs: every writer gives a new text with others offered beside it, end to end.

"N쪽 새로 쓰기" never gives back the page's text or one it has shown, offers at least two others
(`scenes[].alternatives`), puts one on the page in a tap ("다른 글 보기", undo kept), and says so
when the writer has nothing new. The template writer on its own; KoT5 through the tiny model;
openai through the local stub; the whole path through the API, the worker stages and the book page.
"""
from __future__ import annotations

import json

import pytest

from shared.config import Settings
from shared.db import session_factory
from shared.models import Book
from talesrunner import samples
from tests.korean_grammar import Report, check
from tests.story_cases import CASES
from worker.ml import story
from worker.ml.plan import AGE_STYLES, Draft, SceneInput, make_plan, short_name
from worker.ml.template import TemplateWriter

AGES = tuple(AGE_STYLES)
BOOKS = {
    "demo": samples.SCENES,
    "park": [hints for case_id, hints in CASES if case_id in ("name-everywhere", "dict-motion", "feeling-mixed")],
    "family": [hints for case_id, hints in CASES if case_id in ("dict-hada", "prediction-subject", "drink")],
}


def _scenes(hints_list: list[dict], captions: bool = False) -> list[SceneInput]:
    return [SceneInput(index=i, fields=hints, caption=f"사진 {i}" if captions else None, caption_lang="ko")
            for i, hints in enumerate(hints_list, start=1)]


def _rewrite(writer, scenes: list[SceneInput], texts: list[str], index: int, shown: list[str], rewrites: int,
             age: str | None = None) -> Draft:
    """Page `index` written again as the worker asks for it: the other pages known, what it has shown never again."""
    scene = scenes[index - 1]
    again = SceneInput(index=index, fields=scene.fields, caption=scene.caption, caption_lang=scene.caption_lang,
                       neighbours={s.index: t for s, t in zip(scenes, texts) if s.index != index},
                       others={s.index: s.fields for s in scenes if s.index != index},
                       shown=tuple(shown), rewrites=rewrites)
    return story.write_book(writer, [again], make_plan([again], age=age))


@pytest.mark.parametrize("age", AGES)
@pytest.mark.parametrize("book", BOOKS)
def test_every_template_rewrite_is_new_with_two_alternatives_all_in_good_korean(book, age):
    scenes = _scenes(BOOKS[book])
    texts = TemplateWriter().write(scenes, make_plan(scenes, age=age))
    for index in range(1, len(scenes) + 1):
        shown = [texts[index - 1]]
        name = str(scenes[index - 1].fields["name"])
        for rewrites in (1, 2):
            draft = _rewrite(TemplateWriter(), scenes, texts, index, shown, rewrites, age)
            new, offered = draft.texts[0], draft.alternatives[0]
            assert draft.stale == [] and new and new not in shown, (index, rewrites, new)
            assert len(set(offered)) >= 2 and new not in offered and not set(offered) & set(shown), offered
            report = Report()
            for text in (new, *offered):
                check(text, (name, short_name(name)), report)
            assert report.count == 0, report.violations
            shown += [new, *offered]


def test_a_template_rewrite_is_reproducible_and_the_next_one_differs():
    scenes = _scenes(BOOKS["demo"])
    texts = TemplateWriter().write(scenes)
    first = _rewrite(TemplateWriter(), scenes, texts, 3, [texts[2]], 1)
    assert _rewrite(TemplateWriter(), scenes, texts, 3, [texts[2]], 1) == first  # seeded by the page and the count
    second = _rewrite(TemplateWriter(), scenes, texts, 3, [texts[2], first.texts[0], *first.alternatives[0]], 2)
    assert second.texts[0] not in (texts[2], first.texts[0], *first.alternatives[0])


def test_a_page_with_nothing_new_left_is_named_not_repeated():
    scenes = _scenes([{"name": "곰", "i_action": "졸리다", "classification": "신체운동_건강"}])
    texts = TemplateWriter().write(scenes)
    shown = [texts[0]]
    for rewrites in range(1, 40):
        draft = _rewrite(TemplateWriter(), scenes, texts, 1, shown, rewrites)
        if draft.stale:
            break
        assert draft.texts[0] not in shown and not set(draft.alternatives[0]) & set(shown)
        shown += [draft.texts[0], *draft.alternatives[0]]
    assert draft.stale == [1] and draft.texts == [""] and draft.alternatives == [[]]
    assert len(shown) == len(set(shown)) > 3  # every wording it had was shown once, then it said so


@pytest.mark.models
def test_kot5_rewrites_sample_several_and_offer_the_others(tiny_models, fresh_models, monkeypatch):
    from worker.ml.writer import get_writer

    writer = get_writer(Settings(TALES_WRITER="kot5", TALES_KOT5_DIR=str(tiny_models / "kot5"), TALES_DEVICE="cpu"))
    calls = []
    original = writer.parts.model.generate
    monkeypatch.setattr(writer.parts.model, "generate", lambda *a, **k: (calls.append(k), original(*a, **k))[1])
    scenes = _scenes(BOOKS["demo"], captions=True)
    texts = writer.write(scenes)
    assert "num_return_sequences" not in calls[0] and "do_sample" not in calls[0]  # a first writing: beam search
    shown = [texts[1]]
    for rewrites in (1, 2):
        draft = _rewrite(writer, scenes, texts, 2, shown, rewrites)
        assert calls[-1]["do_sample"] is True and calls[-1]["num_return_sequences"] == writer.REWRITE_CANDIDATES
        assert calls[-1]["input_ids"].shape[0] == 1  # one page, one generate call for all its candidates
        new, offered = draft.texts[0], draft.alternatives[0]
        assert new and new not in shown and len(set(offered)) >= 2 and not set(offered) & set(shown)
        shown += [new, *offered]


def _openai(stub):
    from worker.ml.writer import OpenAIWriter

    return OpenAIWriter(Settings(OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="test-key", TALES_OPENAI_MODEL="stub-model",
                                 TALES_OPENAI_TIMEOUT=2.0, TALES_OPENAI_MAX_RETRIES=0))


def test_openai_is_asked_for_several_and_never_gives_back_what_was_shown(stub):
    from tests.openai_stub import user_json

    scenes = _scenes(BOOKS["demo"], captions=True)
    texts = ["첫째 장이에요.", "둘째 장이에요.", "셋째 장이에요.", "넷째 장이에요."]
    answer = {"paragraphs": [{"index": 2, "text": "둘째 장이에요.",  # the model gave back the page's text: not taken
                              "alternatives": ["새 둘째 장 가.", "새 둘째 장 나.", "새 둘째 장 가.", "새 둘째 장 다."]}]}
    stub.reply = lambda body: json.dumps(answer, ensure_ascii=False)
    draft = _rewrite(_openai(stub), scenes, texts, 2, ["둘째 장이에요.", "예전에 보인 글."], 1)
    assert draft.texts == ["새 둘째 장 가."] and draft.alternatives == [["새 둘째 장 나.", "새 둘째 장 다."]]
    sent = user_json(stub.requests[0])["scenes"][0]
    assert sent["rewrite"] == {"avoid": ["둘째 장이에요.", "예전에 보인 글."], "alternatives": 3}

    stub.reply = lambda body: json.dumps({"paragraphs": [{"index": 2, "text": "둘째 장이에요.", "alternatives": []}]})
    assert _rewrite(_openai(stub), scenes, texts, 2, ["둘째 장이에요."], 2).stale == [2]  # nothing new: said, not faked


# The whole path: API, worker stages, database, book page ----------------------------------------

@pytest.fixture
def client(db, service_env, spare_redis_url):
    from web import create_app

    return create_app({**service_env, "REDIS_URL": spare_redis_url}).test_client()


@pytest.fixture
def ctx(db, service_env):
    from shared.storage import LocalStorage
    from tests.test_pipeline import Recorder
    from worker import pipeline

    settings = Settings(**service_env)
    return pipeline.Context(settings=settings, sessions=session_factory(db), storage=LocalStorage(settings.DATA_DIR), enqueue=Recorder())


def _scene(client, headers, book_id: str, index: int) -> dict:
    return client.get(f"/api/v1/books/{book_id}", headers=headers).json["scenes"][index - 1]


def test_a_rewrite_offers_alternatives_in_the_api_and_one_is_chosen_in_a_tap_with_undo(client, api, ctx, db):
    from tests.helpers import sample_form
    from tests.web_helpers import Pages
    from worker import pipeline

    headers = api.user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form(True)).json["id"]
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    first = _scene(client, headers, book_id, 2)
    assert first["alternatives"] == [] and first["nothing_new"] is False  # a first writing offers none

    assert client.post(f"/api/v1/books/{book_id}/scenes/2/regenerate", headers=headers).status_code == 202
    pipeline.write_stage(ctx, book_id)
    rewritten = _scene(client, headers, book_id, 2)
    assert rewritten["text"] != first["text"] and rewritten["previous_text"] == first["text"]
    assert len(set(rewritten["alternatives"])) >= 2 and first["text"] not in rewritten["alternatives"]
    pipeline.render_stage(ctx, book_id)

    # The book page offers them, one tap each; the chosen one goes on the page, the one it replaced can come back.
    pages = Pages(client)
    pages.login()
    page = client.get(f"/books/{book_id}").text
    assert "2쪽 다른 글 보기 (" in page and "2쪽에 다른 글 1 싣기</button>" in page
    wanted = rewritten["alternatives"][1]
    from web.books_service import text_digest

    response = pages.post(f"/books/{book_id}/scenes/2/choose", {"alternative": "1", "shown": text_digest(wanted)},
                          page=f"/books/{book_id}")
    assert response.status_code == 303 and response.location == f"/books/{book_id}#scene-2"
    chosen = _scene(client, headers, book_id, 2)
    assert (chosen["text"], chosen["previous_text"]) == (wanted, rewritten["text"])
    assert rewritten["text"] in chosen["alternatives"] and wanted not in chosen["alternatives"]
    pipeline.render_stage(ctx, book_id)
    undone = client.post(f"/api/v1/books/{book_id}/scenes/2/undo", headers=headers).json["scenes"][1]
    assert undone["text"] == rewritten["text"]
    pipeline.render_stage(ctx, book_id)

    # The API chooses the same way; a list that changed meanwhile is refused on the page.
    picked = client.post(f"/api/v1/books/{book_id}/scenes/2/choose", headers=headers, json={"alternative": 0})
    assert picked.status_code == 202 and picked.json["status"] == "rendering"
    pipeline.render_stage(ctx, book_id)
    stale_form = pages.post(f"/books/{book_id}/scenes/2/choose", {"alternative": "0", "shown": "0" * 16}, page=f"/books/{book_id}")
    assert stale_form.status_code == 303 and "다른 글 목록이 그사이 바뀌었어요" in client.get(f"/books/{book_id}").text
    assert client.post(f"/api/v1/books/{book_id}/scenes/2/choose", headers=headers, json={"alternative": 9}).status_code == 404

    # A second rewrite gives none of what the page has shown or offered.
    seen = {first["text"], rewritten["text"], *rewritten["alternatives"], *_scene(client, headers, book_id, 2)["alternatives"]}
    client.post(f"/api/v1/books/{book_id}/scenes/2/regenerate", headers=headers)
    pipeline.write_stage(ctx, book_id)
    again = _scene(client, headers, book_id, 2)
    assert again["text"] not in seen and len(again["alternatives"]) >= 2 and not set(again["alternatives"]) & seen


def test_a_rewrite_with_nothing_new_keeps_the_page_and_says_so(client, api, ctx, db, monkeypatch):
    from tests.helpers import sample_form
    from tests.web_helpers import Pages
    from worker import pipeline

    headers = api.user()
    book_id = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=sample_form(True)).json["id"]
    for stage in (pipeline.caption_stage, pipeline.write_stage, pipeline.render_stage):
        stage(ctx, book_id)
    before = _scene(client, headers, book_id, 3)
    monkeypatch.setattr(TemplateWriter, "candidates", lambda self, scene, plan, said: [])
    client.post(f"/api/v1/books/{book_id}/scenes/3/regenerate", headers=headers)
    pipeline.write_stage(ctx, book_id)
    after = _scene(client, headers, book_id, 3)
    assert (after["text"], after["previous_text"], after["nothing_new"]) == (before["text"], None, True)
    with session_factory(db)() as session:
        assert session.get(Book, book_id).scenes[2].rewrites == 1
    pipeline.render_stage(ctx, book_id)
    pages = Pages(client)
    pages.login()
    page = client.get(f"/books/{book_id}").text
    assert "새로 쓸 수 있는 다른 글이 더 없어서 3쪽은 지금 글 그대로예요" in page and "3쪽 이전 글로 되돌리기</button>" not in page
