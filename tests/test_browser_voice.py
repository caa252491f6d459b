"""Spoken hints in a real Chromium with a fake microphone: record, stop, listen, send, see the hints, accept them.

Chromium's fake capture device plays a WAV that espeak-ng made of a Korean sentence; the web tier
and a real worker process transcribe it through the local OpenAI-compatible stub (tests/openai_stub.py),
which answers with the sentence, so the hints are known. axe-core checks the form with the voice UI open.
"""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.test_accessibility import AXE, readable, violations
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Visit, serving, sign_up, wait_photos_ready
from tests.test_browser_upload import small_photos  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SENTENCE = "민호가 공원에서 자전거를 탔어요"


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory) -> Path:
    """The sentence said by espeak-ng's Korean voice: what the fake microphone hears."""
    path = tmp_path_factory.mktemp("voice") / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), SENTENCE], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def speech_server():
    from tests.openai_stub import ChatStub

    stub = ChatStub().start()
    stub.transcribe = lambda form: SENTENCE
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def voice_server(worker_with, speech_server, service_env):
    """The web tier and a worker that transcribe through the stub (the form then says the audio leaves the server)."""
    env = {"TALES_TRANSCRIBER": "openai", "OPENAI_BASE_URL": speech_server.base_url, "OPENAI_API_KEY": "test-key",
           "TALES_SUGGESTER": "kiwi"}
    worker = worker_with(**env)
    with serving({**service_env, **worker.env, **env}) as base:
        yield base


@pytest.fixture(scope="module")
def microphone_browser(spoken_wav):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={spoken_wav}"]
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def parent(microphone_browser, voice_server):
    visit = Visit(microphone_browser, voice_server, "voice", viewport={"width": 1100, "height": 2000}, bypass_csp=True,
                  permissions=["microphone"])
    sign_up(visit, f"voice-{uuid.uuid4().hex[:8]}@example.com")
    yield visit
    visit.context.close()
    assert [e for e in visit.errors if not e.startswith("Failed to load resource")] == [], visit.errors


def record_and_send(page, box) -> None:
    """Record about two seconds from the fake microphone, listen to it, send it, wait for the hints."""
    box.get_by_role("button", name="녹음 시작").click()
    stop = box.get_by_role("button", name="녹음 멈추기")
    stop.wait_for()
    # The visible timer runs; two seconds of the fake microphone's sentence are enough to hear it.
    box.locator("[data-voice-timer]").evaluate(
        "timer => new Promise(done => { const look = () => timer.textContent.startsWith('0:02 / 1:00') ? done() : setTimeout(look, 100); look(); })")
    stop.click()
    player = box.locator("audio[data-voice-playback]")
    player.wait_for()
    assert player.evaluate("a => a.src.startsWith('blob:')")
    assert player.evaluate("a => a.play().then(() => { a.pause(); return true; })")  # the recording plays back
    box.get_by_role("button", name="보내서 글로 바꾸기").click()
    box.locator("[data-voice-result]").wait_for(timeout=120_000)


def test_a_spoken_hint_is_recorded_played_back_sent_and_its_hints_accepted_into_the_fields(parent, small_photos):  # noqa: F811
    page = parent.page
    # The book's hero, said aloud.
    book = page.locator("[data-voice='book']")
    book.get_by_role("button", name="주인공과 함께 나오는 인물을 말로 알려 주기").click()
    assert book.get_by_role("button", name="주인공과 함께 나오는 인물을 말로 알려 주기").get_attribute("aria-expanded") == "true"
    assert "외부 서버(127.0.0.1)로 보내져요" in book.inner_text()  # the openai backend: the form says where the audio goes
    record_and_send(page, book)
    assert book.locator("[data-voice-text]").inner_text() == SENTENCE
    assert book.get_by_label("주인공 이름: 민호").is_checked()
    assert page.locator("#book-name").input_value() == ""  # nothing goes in until the parent says so
    if AXE.is_file():
        found = violations(parent)
        assert not found, readable({"voice result open": found})
    parent.shot("book-voice-result")
    book.get_by_role("button", name="고른 힌트 넣기").click()
    assert page.locator("#book-name").input_value() == "민호"
    assert "힌트 1개를 칸에 넣었어요" in book.locator("[data-voice-status]").inner_text()

    # A scene's hints, said aloud: the name and what the child does go into that scene's fields.
    page.set_input_files("#images", small_photos)
    wait_photos_ready(page)
    panel = page.locator("#scene-0-panel")
    if not panel.is_visible():
        page.locator("#scene-list .scene-card").first.locator("[data-pick]").click()
    scene = panel.locator("[data-voice='scene']")
    scene.get_by_role("button", name="이 장면 힌트를 말로 주기").click()
    record_and_send(page, scene)
    scene.get_by_label("장소: 공원").uncheck()  # the parent keeps the place out
    scene.get_by_role("button", name="고른 힌트 넣기").click()
    assert page.locator("#scene-0-name").input_value() == "민호"
    assert "자전거" in page.locator("#scene-0-i_action").input_value()
    assert page.locator("#scene-0-setting").input_value() == ""
    if AXE.is_file():
        found = violations(parent)
        assert not found, readable({"scene voice accepted": found})
    parent.shot("scene-voice-accepted")


def test_the_record_button_is_absent_without_script(microphone_browser, voice_server):
    visit = Visit(microphone_browser, voice_server, "voice-noscript", java_script_enabled=False)
    visit.go("/signup")  # without script the sign-up form still works
    email = f"noscript-{uuid.uuid4().hex[:8]}@example.com"
    visit.page.get_by_label("이메일").fill(email)
    visit.page.get_by_label("비밀번호 (8자 이상)").fill("correct horse")
    visit.page.get_by_label("비밀번호 확인").fill("correct horse")
    visit.page.get_by_role("button", name="가입하기").click()
    visit.page.wait_for_url("**/books/new")
    assert visit.page.locator("[data-voice]").count() >= 1
    assert not visit.page.get_by_role("button", name="주인공과 함께 나오는 인물을 말로 알려 주기").is_visible()
    visit.context.close()
