"""OpenAI-compatible backends against a local chat-completions server (no network)."""
from __future__ import annotations

import io
import json
import socket
import time

import pytest
from PIL import Image

from shared.config import Settings
from talesrunner.processes import Child
from tests.helpers import jpeg, scene
from tests.openai_stub import ChatStub, Hang, user_json
from tests.web_helpers import ApiActions, wait_for
from worker.errors import StageError
from worker.ml.captioner import CAPTION_PROMPT, get_captioner
from worker.ml.keywords import KiwiSuggester, OpenAISuggester, get_suggester
from worker.ml.openai_chat import OpenAIChat
from worker.ml.translator import get_translator
from worker.ml.writer import WRITE_PROMPT, OpenAIWriter, SceneInput, get_writer


def _settings(stub: ChatStub, **extra) -> Settings:
    values = {
        "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test-key", "TALES_OPENAI_MODEL": "stub-model",
        "TALES_OPENAI_TIMEOUT": 1.0, "TALES_OPENAI_MAX_RETRIES": 0,
    }
    return Settings(**{**values, **extra})


def _scenes() -> list[SceneInput]:
    return [
        SceneInput(index=1, fields=scene("첼시", "창밖을 보다", setting="집"), caption="창가에 앉은 고양이", caption_lang="ko"),
        SceneInput(index=2, fields=scene("첼시", "공을 쫓다", feeling="신나다"), caption="공을 가지고 노는 고양이",
                   caption_lang="ko"),
        SceneInput(index=3, fields=scene("첼시", "잠들다"), caption=None),
    ]


def test_captioner_asks_for_a_short_korean_caption_per_photo(stub):
    stub.reply = lambda body: "  햇살 아래 공원에서 노는 아이  "
    captions = get_captioner(_settings(stub, TALES_CAPTIONER="openai")).caption(
        [Image.new("RGB", (2000, 1500), (10, 20, 30)), Image.new("RGB", (50, 80))]
    )
    assert [(c.text, c.lang, c.source) for c in captions] == [("햇살 아래 공원에서 노는 아이", "ko", "openai")] * 2
    assert len(stub.requests) == 2
    body = stub.requests[0]
    assert body["model"] == "stub-model"
    parts = body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": CAPTION_PROMPT}
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert stub.headers[0]["Authorization"] == "Bearer test-key"


def test_translator_sends_all_captions_in_one_call(stub):
    stub.reply = lambda body: json.dumps({"translations": ["강아지가 달려요", "소녀가 책을 읽어요"]}, ensure_ascii=False)
    korean = get_translator(_settings(stub, TALES_TRANSLATOR="openai")).translate(["a dog running", "a girl reading"])
    assert korean == ["강아지가 달려요", "소녀가 책을 읽어요"]
    assert len(stub.requests) == 1 and user_json(stub.requests[0]) == {"captions": ["a dog running", "a girl reading"]}
    assert stub.requests[0]["response_format"] == {"type": "json_object"}


def test_translator_refuses_a_short_answer(stub):
    stub.reply = lambda body: json.dumps({"translations": ["하나"]})
    with pytest.raises(StageError, match="did not hold 2 Korean captions"):
        get_translator(_settings(stub, TALES_TRANSLATOR="openai")).translate(["one", "two"])


def test_writer_writes_the_whole_book_in_one_call_with_protagonist_and_hints(stub):
    # Answered out of order, in a code fence: the writer still puts each paragraph on its scene.
    answer = {"paragraphs": [{"index": 3, "text": "셋째 장"}, {"index": 1, "text": "첫째 장"}, {"index": 2, "text": "둘째  장"}]}
    stub.reply = lambda body: "```json\n" + json.dumps(answer, ensure_ascii=False) + "\n```"
    texts = get_writer(_settings(stub, TALES_WRITER="openai")).write(_scenes())
    assert texts == ["첫째 장", "둘째 장", "셋째 장"]
    assert len(stub.requests) == 1
    body = stub.requests[0]
    assert body["messages"][0] == {"role": "system", "content": WRITE_PROMPT}
    sent = user_json(body)
    assert sent["protagonist"] == "첼시"
    assert [s["index"] for s in sent["scenes"]] == [1, 2, 3]
    assert sent["scenes"][1]["hints"]["feeling"] == "신나다" and sent["scenes"][0]["caption"] == "창가에 앉은 고양이"


def test_writer_shows_pages_already_written_when_one_is_written_again(stub):
    stub.reply = lambda body: json.dumps({"paragraphs": ["새로 쓴 둘째 장"]}, ensure_ascii=False)
    again = SceneInput(index=2, fields=scene("첼시", "공을 쫓다"), caption="공", neighbours={1: "첫째 장", 3: "셋째 장"})
    assert get_writer(_settings(stub, TALES_WRITER="openai")).write([again]) == ["새로 쓴 둘째 장"]
    assert user_json(stub.requests[0])["written"] == {"1": "첫째 장", "3": "셋째 장"}


@pytest.mark.parametrize("answer, message", [
    ("이야기를 쓸 수 없어요", "did not answer with JSON"),
    (json.dumps({"story": "..."}), "no 'paragraphs' list"),
    (json.dumps({"paragraphs": [{"index": 1, "text": "하나"}]}), r"no paragraph for scene\(s\) \[2, 3\]"),
])
def test_writer_refuses_answers_it_cannot_use(stub, answer, message):
    stub.reply = lambda body: answer
    with pytest.raises(StageError, match=message):
        OpenAIWriter(_settings(stub)).write(_scenes())


def test_suggestions_come_from_the_server_when_one_is_configured(stub):
    answer = {"scenes": [
        {"index": 1, "setting": ["창가", "거실", "집", "소파", "햇살", "커튼"], "action": ["바라보기"], "feeling": ["평온함", "호기심", "졸림"]},
        {"index": 2, "setting": "마당, 잔디밭, 공원", "action": ["공 쫓기", "뛰기", "구르기"], "feeling": ["신남", "즐거움", "설렘"]},
    ]}
    stub.reply = lambda body: json.dumps(answer, ensure_ascii=False)
    suggester = get_suggester(_settings(stub))
    assert isinstance(suggester, OpenAISuggester)
    result = suggester.suggest([("창가에 앉은 고양이", "ko"), ("공을 가지고 노는 고양이", "ko"), (None, None)])
    assert len(stub.requests) == 1  # one call for the book; the scene without a caption is not sent
    assert [c["index"] for c in user_json(stub.requests[0])["captions"]] == [1, 2]
    assert result[0]["setting"] == ["창가", "거실", "집", "소파", "햇살"]  # at most five
    assert result[0]["action"][0] == "바라보기" and len(result[0]["action"]) == 3  # topped up to three offline
    assert result[1]["setting"] == ["마당", "잔디밭", "공원"]
    assert result[2] == KiwiSuggester().suggest([(None, None)])[0]
    for suggestion in result:
        assert all(3 <= len(suggestion[c]) <= 5 for c in ("setting", "action", "feeling"))


def test_suggestions_are_offline_without_a_server_or_when_asked(stub):
    assert isinstance(get_suggester(Settings()), KiwiSuggester)
    assert isinstance(get_suggester(_settings(stub, TALES_SUGGESTER="kiwi")), KiwiSuggester)


def test_suggester_makes_no_call_when_no_scene_has_a_caption(stub):
    result = OpenAISuggester(_settings(stub)).suggest([(None, None), ("  ", "ko")])
    assert stub.requests == [] and len(result) == 2


# Failures: retryable ones come back as TimeoutError/ConnectionError, the rest as StageError.

def test_a_server_that_answers_too_late_is_a_timeout(stub):
    stub.reply = lambda body: Hang(3)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not answer within 1 s"):
        OpenAIChat(_settings(stub)).complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("status, kind, message", [
    (401, StageError, r"refused the request \(401\): bad key"),
    (404, StageError, r"refused the request \(404\): no such model"),
    (429, ConnectionError, r"busy or failing \(429\)"),
    (503, ConnectionError, r"busy or failing \(503\)"),
])
def test_error_answers_are_reported_by_kind(stub, status, kind, message):
    text = "bad key" if status == 401 else "no such model" if status == 404 else "later"
    stub.reply = lambda body: (status, {"error": {"message": text}})
    with pytest.raises(kind, match=message):
        OpenAIChat(_settings(stub)).complete([{"role": "user", "content": "hi"}])


def test_an_unreachable_server_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", TALES_OPENAI_MAX_RETRIES=0)
    with pytest.raises(ConnectionError, match="could not reach"):
        OpenAIChat(settings).complete([{"role": "user", "content": "hi"}])


def test_an_empty_answer_is_a_stage_error(stub):
    stub.reply = lambda body: "   "
    with pytest.raises(StageError, match="empty answer"):
        OpenAIChat(_settings(stub)).complete([{"role": "user", "content": "hi"}])


def test_no_server_configured_is_a_stage_error():
    with pytest.raises(StageError, match="OPENAI_API_KEY"):
        OpenAIChat(Settings(OPENAI_API_KEY=None, OPENAI_BASE_URL=None))


# Through the real service: web tier -> Redis -> a worker using the stub server.

@pytest.fixture(scope="module")
def module_stub():
    server = ChatStub().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def openai_worker(worker_with, module_stub, tmp_path_factory) -> Child:
    """A worker whose captioner, writer and suggester ask the stub server, with its own Redis database and files."""
    return worker_with(
        DATA_DIR=str(tmp_path_factory.mktemp("openai-data")),
        TALES_CAPTIONER="openai", TALES_WRITER="openai", TALES_TRANSLATOR="none", TALES_SUGGESTER="auto",
        OPENAI_BASE_URL=module_stub.base_url, OPENAI_API_KEY="test-key", TALES_OPENAI_MODEL="stub-model",
        # Short waits so a server that never answers fails the book within seconds.
        TALES_OPENAI_TIMEOUT="1", TALES_OPENAI_MAX_RETRIES="0",
        TALES_TASK_MAX_RETRIES="1", TALES_TASK_RETRY_BASE_S="0.2",
    )


@pytest.fixture
def openai_client(db, openai_worker):
    from web import create_app

    return create_app(dict(openai_worker.env)).test_client()


def _book_reply(body: dict) -> str:
    """What a sensible model would answer to each of the service's requests."""
    if isinstance(body["messages"][-1]["content"], list):
        return "공원에서 노는 아이"
    system = body["messages"][0]["content"]
    if system == WRITE_PROMPT:
        sent = user_json(body)
        return json.dumps({"paragraphs": [{"index": s["index"], "text": f"{s['hints']['name']}의 {s['index']}번째 이야기"}
                                          for s in sent["scenes"]]}, ensure_ascii=False)
    sent = user_json(body)
    return json.dumps({"scenes": [{"index": c["index"], "setting": ["공원", "놀이터", "잔디밭"],
                                   "action": ["뛰기", "웃기", "놀기"], "feeling": ["기쁨", "신남", "설렘"]}
                                  for c in sent["captions"]]}, ensure_ascii=False)


@pytest.mark.e2e
def test_a_book_made_with_an_openai_compatible_server(openai_client, openai_worker, module_stub):
    module_stub.reply = _book_reply
    client = openai_client
    headers = ApiActions(client).user()
    form = {"images": [(io.BytesIO(jpeg()), "a.jpg"), (io.BytesIO(jpeg()), "b.jpg")]}
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form)
    book = wait_for(client, headers, created.json["url"], {"awaiting_annotations", "failed"}, timeout=60)
    assert book["status"] == "awaiting_annotations", book["error"]
    assert [s["caption"] for s in book["scenes"]] == ["공원에서 노는 아이"] * 2
    assert book["scenes"][0]["suggestions"]["setting"] == ["공원", "놀이터", "잔디밭"]

    scenes = [scene("하늘", "뛰어놀다"), scene("하늘", "웃다")]
    assert client.put(f"{book['url']}/scenes", headers=headers, json={"scenes": scenes}).status_code == 200
    assert client.post(f"{book['url']}/generate", headers=headers).status_code == 202
    book = wait_for(client, headers, book["url"], {"done", "failed"}, timeout=60)
    assert book["status"] == "done", book["error"]
    assert [s["text"] for s in book["scenes"]] == ["하늘의 1번째 이야기", "하늘의 2번째 이야기"]
    writes = [r for r in module_stub.requests if r["messages"][0]["content"] == WRITE_PROMPT]
    assert len(writes) == 1  # the whole book in one call


@pytest.mark.e2e
def test_a_server_that_never_answers_fails_the_book_with_the_reason(openai_client, openai_worker, module_stub):
    module_stub.reply = lambda body: Hang(4)
    client = openai_client
    headers = ApiActions(client).user("late@example.com")
    form = {"images": [(io.BytesIO(jpeg()), "a.jpg")], "book": json.dumps({"scenes": [scene()]})}
    started = time.monotonic()
    created = client.post("/api/v1/books", headers=headers, content_type="multipart/form-data", data=form)
    book = wait_for(client, headers, created.json["url"], {"done", "failed"}, timeout=60)
    assert book["status"] == "failed"
    assert "did not answer within 1 s" in book["error"] and "after 1 retries" in book["error"], book["error"]
    assert "captioning" in book["error"]
    assert time.monotonic() - started < 30


def test_writer_sends_the_book_plan_and_uses_the_models_title(stub):
    from worker.ml.plan import make_plan

    stub.reply = lambda body: json.dumps({"title": "첼시의 창가", "paragraphs": ["하나", "둘", "셋"]}, ensure_ascii=False)
    scenes = _scenes()
    draft = OpenAIWriter(_settings(stub)).write_book(scenes, make_plan(scenes, age="유아"))
    assert draft.title == "첼시의 창가" and draft.texts == ["하나", "둘", "셋"]
    plan = user_json(stub.requests[0])["plan"]
    assert plan["title"] is None  # no title yet: the model is asked for one
    assert plan["reader"]["age"] == "유아" and "3~5세" in plan["reader"]["style"]
    assert plan["cast"] == [{"name": "첼시", "after_first_mention": "첼시"}]
    assert plan["arc"] == {"1": "beginning", "2": "middle", "3": "end"}
    given = OpenAIWriter(_settings(stub)).write_book(scenes, make_plan(scenes, title="우리 고양이"))
    assert given.title == "우리 고양이" and user_json(stub.requests[1])["plan"]["title"] == "우리 고양이"


def test_unsafe_pages_from_the_server_are_rewritten_once_then_replaced(stub):
    from worker.ml import story
    from worker.ml.plan import make_plan

    def reply(body):
        asked = [s["index"] for s in user_json(body)["scenes"]]
        return json.dumps({"title": "씨발", "paragraphs": [
            {"index": i, "text": "첼시가 창밖을 봤어요." if i == 1 else f"{i}쪽, 존나 신나요." if i == 2 else "첼시가 잠들었어요."}
            for i in asked]}, ensure_ascii=False)

    stub.reply = reply
    scenes = _scenes()
    draft = story.write_book(OpenAIWriter(_settings(stub)), scenes, make_plan(scenes))
    assert len(stub.requests) == 2  # the book, then page 2 once more
    again = user_json(stub.requests[1])
    assert [s["index"] for s in again["scenes"]] == [2] and again["written"] == {"1": "첼시가 창밖을 봤어요.", "3": "첼시가 잠들었어요."}
    assert draft.texts[0] == "첼시가 창밖을 봤어요." and draft.texts[2] == "첼시가 잠들었어요."
    assert "존나" not in draft.texts[1] and "첼시" in draft.texts[1] and draft.sources == ["openai", "template", "openai"]
    assert draft.title != "씨발"
    assert draft.notes == ["아이 책에 맞지 않는 말이 있어 2쪽은 규칙 기반 문장으로 바꿨어요 (unsafe words (욕설) in the openai "
                           "writer's text twice: page(s) [2] replaced by the template writer)."]
