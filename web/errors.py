"""Errors as JSON `{"error": {"code", "message", "field"?}}` under /api; a Korean page everywhere else."""
from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from werkzeug.exceptions import HTTPException

from web.images import MB, DecodeBusy
from web.messages import is_korean, rate_limit, validation_problem

log = logging.getLogger(__name__)


class BrokerDown(Exception):
    """The broker (Redis) cannot take a message now; the request changed nothing."""


class ApiError(Exception):
    """A request the service refuses, with a message a person can act on.

    `message` is Korean where the raiser wrote one; an English one is a detail for the log, and the
    answer then says KOREAN[code] (every code a raiser uses has its sentence there).
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


# What the pages and the API say for each refusal code, unless the raiser wrote a fuller Korean sentence.
KOREAN: dict[str, str] = {
    "not_found": "찾는 것이 없어요. 주소를 확인해 주세요.",
    "no_images": "사진을 1장에서 {max_images}장까지 골라 주세요.",
    "too_many_images": "사진은 한 책에 {max_images}장까지 넣을 수 있어요.",
    "bad_image": "사진으로 읽을 수 없는 파일이 있어요.",
    "scene_count": "사진마다 힌트가 하나씩 있어야 해요.",
    "too_many_books_in_progress": "만들고 있는 책이 너무 많아요. 하나가 끝난 뒤 다시 해 주세요.",
    "wrong_state": "지금 책의 상태에서는 할 수 없는 일이에요. 페이지를 새로 고쳐 보세요.",
    "annotations_missing": "장면마다 힌트(주인공, 행동, 분류)를 먼저 적어 주세요.",
    "email_taken": "이미 가입된 이메일이에요. 로그인해 주세요.",
    "bad_credentials": "이메일 또는 비밀번호가 맞지 않아요.",
    "wrong_password": "비밀번호가 맞지 않아요.",
    "invalid": "입력한 내용을 확인해 주세요.",
    "unreadable_photo": "이 사진을 읽을 수 없어요.",
    "busy": "지금 사진을 처리하는 요청이 많아요. 잠시 후 다시 해 주세요.",
    "rendering": "지금 책을 그리고 있어요. 다 되면 제목을 바꿔 주세요.",
    "unavailable": "잠시 서비스를 쓸 수 없어요. 조금 뒤에 다시 해 주세요.",
    "unsafe_text": "아이 그림책에 넣을 수 없는 말이 있어요. 다른 말로 바꿔 주세요.",
    "nothing_to_undo": "되돌릴 이전 글이 없어요. 이미 되돌렸거나 글을 직접 고친 뒤예요.",
    "alternatives_changed": "다른 글 목록이 그사이 바뀌었어요. 페이지를 새로 고쳐 다시 골라 주세요.",
    "unauthorized": "로그인이 필요해요. 토큰을 받아(POST /api/v1/tokens) 'Authorization: Bearer <토큰>' 머리글로 보내 주세요.",
    "invalid_json": "보낸 내용을 JSON으로 읽을 수 없어요. Content-Type: application/json으로 JSON 객체를 보내 주세요.",
    "too_large": "보낸 내용이 너무 커요. 글을 줄여서 다시 보내 주세요.",
    "not_ready": "아직 파일이 준비되지 않았어요. 책이 다 만들어지면 다시 해 주세요.",
    "not_drawn": "이 책은 사진을 그대로 쓰는 책이라 다시 그릴 그림이 없어요.",
    "unknown_style": "이 서버에서 그릴 수 없는 그림 스타일이에요. 목록에 있는 스타일을 골라 주세요.",
    "invalid_preview": "미리 보기 사진을 읽을 수 없어요. 작은 JPEG나 PNG 사진을 보내 주세요.",
    "csrf_failed": "보안 확인 값(CSRF 토큰)이 없거나 맞지 않아요. 페이지를 새로 고친 뒤 다시 해 주세요.",
    "internal_error": "서버에 문제가 생겼어요. 잠시 후 다시 해 주세요.",
}

PAGE_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("잘못된 요청", "요청을 이해하지 못했어요. 페이지를 새로 고친 뒤 다시 해 주세요."),
    401: ("로그인이 필요해요", "로그인한 뒤 다시 해 주세요."),
    403: ("볼 수 없어요", "이 페이지를 볼 권한이 없어요."),
    404: ("찾을 수 없어요", "찾는 페이지나 책이 없어요. 주소를 확인해 주세요."),
    405: ("할 수 없는 요청", "이 주소에서는 그 일을 할 수 없어요."),
    409: ("지금은 할 수 없어요", "책의 상태가 바뀌었어요. 페이지를 새로 고쳐 보세요."),
    410: ("기간이 지났어요", "이 내려받기 링크는 기간이 지났어요. 책 주인에게 다시 보내 달라고 해 주세요."),
    413: ("파일이 너무 커요", "사진이 너무 커요."),
    429: ("잠시 쉬었다 해 주세요", "짧은 시간에 요청이 너무 많았어요. 잠시 후 다시 해 주세요."),
    431: ("요청이 너무 커요", "요청 머리글이 너무 길어요. 쿠키를 지운 뒤 다시 해 주세요."),
    500: ("서버 오류", "서버에 문제가 생겼어요. 잠시 후 다시 해 주세요."),
    503: ("잠시 쉬고 있어요", "서버에 잠깐 문제가 있어서 지금은 쓸 수 없어요. 적은 내용은 바뀌지 않았으니 잠시 뒤 다시 해 주세요."),
}

# Seconds a client is told to wait when the database or the broker is unreachable.
RETRY_AFTER_S = 5


def korean(exc: ApiError) -> str:
    """A page's wording for a refused request, keeping the detail where it names a file."""
    text = KOREAN.get(exc.code)
    if text is None:
        return api_message(exc)
    text = text.format(max_images=current_app.extensions["talesrunner.settings"].TALES_MAX_IMAGES)
    return f"{text} ({exc.message})" if exc.code in ("bad_image", "invalid") and is_korean(exc.message) else text


def api_message(exc: ApiError) -> str:
    """The API's Korean `message`: the raiser's own sentence, or its code's (the English detail is logged)."""
    if is_korean(exc.message):
        return exc.message
    log.info("refused %s %s: %s %s", request.method, request.path, exc.code, exc.message)
    text = KOREAN.get(exc.code)
    if text is None:
        return status_message(exc.status)
    return text.format(max_images=current_app.extensions["talesrunner.settings"].TALES_MAX_IMAGES)


def status_message(status: int) -> str:
    """The pages' sentence for an HTTP status the code has no sentence of its own for."""
    return PAGE_MESSAGES.get(status, PAGE_MESSAGES[500] if status >= 500 else PAGE_MESSAGES[400])[1]


def error_response(status: int, code: str, message: str, field: str | None = None):
    body: dict = {"code": code, "message": message}
    if field:
        body["field"] = field
    return jsonify(error=body), status


def error_page(status: int, message: str | None = None):
    title, default = PAGE_MESSAGES.get(status, PAGE_MESSAGES[500] if status >= 500 else PAGE_MESSAGES[400])
    return render_template("error.html", status=status, title=title, message=message or default), status


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def page_asks_json() -> bool:
    """A page's own script asking (Accept: application/json): it gets JSON with the page's Korean words."""
    return not wants_json() and request.accept_mimetypes.best == "application/json"


CSRF_MESSAGE = KOREAN["csrf_failed"]


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        if not wants_json():
            return error_page(exc.status, korean(exc))
        return error_response(exc.status, exc.code, api_message(exc), exc.field)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        problem = validation_problem(exc)
        if not wants_json():
            return error_page(400, problem.message)
        return error_response(400, problem.code, problem.message, problem.field)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        if page_asks_json():  # the new-book script fetches a fresh token and sends the form again
            return error_response(400, "csrf_failed", CSRF_MESSAGE)
        if not wants_json():
            return error_page(400, CSRF_MESSAGE)
        log.info("csrf refused on %s: %s", request.path, exc.description)
        return error_response(400, "csrf_failed", "보안 확인 값(CSRF 토큰)이 없거나 맞지 않아요. 로그인한 브라우저에서 보낼 때는 "
                                                  "페이지의 CSRF 토큰을 X-CSRFToken 머리글에 넣어 주세요.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        config = app.extensions["talesrunner.settings"]
        # A request under the whole-upload limit was refused for one of its text fields.
        text_field = exc.code == 413 and (request.content_length or 0) <= (app.config["MAX_CONTENT_LENGTH"] or 0)
        if not wants_json():
            if exc.code == 429:
                return error_page(429, f"{PAGE_MESSAGES[429][1]} (한도: {rate_limit(exc.description or '')})")
            if exc.code == 413 and text_field:
                return error_page(413, f"적은 글이 너무 길어요. 글 칸 하나에 {config.TALES_MAX_JSON_BYTES // 1024}KB까지 쓸 수 있어요.")
            if exc.code == 413:
                return error_page(413, f"사진이 너무 커요. 사진 한 장은 {config.TALES_MAX_IMAGE_BYTES // MB}MB까지, "
                                       f"한 책에 {config.TALES_MAX_IMAGES}장까지 올릴 수 있어요.")
            return _with_allow(exc, error_page(exc.code or 500))
        messages = {
            404: KOREAN["not_found"],
            413: f"적은 글이 너무 길어요. 글 칸 하나에 {config.TALES_MAX_JSON_BYTES // 1024}KB까지 쓸 수 있어요." if text_field else
            f"사진이 너무 커요. 사진 한 장은 {config.TALES_MAX_IMAGE_BYTES // MB}MB까지, 한 책에 {config.TALES_MAX_IMAGES}장까지 "
            "올릴 수 있어요.",
            429: f"{PAGE_MESSAGES[429][1]} (한도: {rate_limit(exc.description or '')})",
        }
        code = (exc.name or "error").lower().replace(" ", "_")
        message = messages.get(exc.code or 0) or status_message(exc.code or 500)
        return _with_allow(exc, error_response(exc.code or 500, code, message))

    @app.errorhandler(DecodeBusy)
    def _busy(_exc: DecodeBusy):
        return _unavailable("busy", KOREAN["busy"])

    @app.errorhandler(BrokerDown)
    def _broker_down(exc: BrokerDown):
        log.warning("broker unreachable: %s", exc)
        return _unavailable("unavailable", "서버에 잠깐 문제가 있어서 요청을 받지 못했어요. 아무것도 바뀌지 않았으니 잠시 뒤 다시 해 주세요.")

    @app.errorhandler(DBAPIError)
    @app.errorhandler(SQLAlchemyTimeout)
    def _database(exc: Exception):
        retried = retry_read_once(exc)
        if retried is not None:
            return retried
        if isinstance(exc, DBAPIError) and not isinstance(exc, (OperationalError, InterfaceError)):
            return _server_error(exc)
        log.warning("database unreachable: %s", exc.__class__.__name__, exc_info=True)
        g.setdefault("user", None)  # the error page must not wait for the database a second time
        return _unavailable("unavailable", "서버에 잠깐 문제가 있어서 지금은 쓸 수 없어요. 잠시 뒤 다시 해 주세요.")

    @app.after_request
    def _retry_after_only_on_refusals(response):
        # Flask-Limiter puts Retry-After on every answer of a limited route; on a 201/202 it reads
        # as "come back later" to a client that just succeeded.
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http(exc)
        return _server_error(exc)


def _with_allow(exc: HTTPException, response):
    """Keep the Allow header of a 405 (TRACE, or any method a route does not take)."""
    body, status = response
    headers = dict(exc.get_headers()) if exc.code == 405 else {}
    allow = {k: v for k, v in headers.items() if k.lower() == "allow"}
    return body, status, allow


def _unavailable(code: str, message: str):
    if not wants_json():
        body, status = error_page(503)
    else:
        body, status = error_response(503, code, message)
    return body, status, {"Retry-After": str(RETRY_AFTER_S)}


def _server_error(exc: Exception):
    # The exception and its text (SQL, parameters, paths) go to the log; the person gets a plain sentence.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)
    if not wants_json():
        return error_page(500)
    return error_response(500, "internal_error", KOREAN["internal_error"])


def retry_read_once(exc: Exception):
    """A read (GET/HEAD) that lost its database connection is run once more on a fresh one; None otherwise.

    Only a connection that dropped (`connection_invalidated`: killed, restarted server) is worth it;
    a database that refuses or does not answer new connections would only double the wait.
    """
    if request.method not in ("GET", "HEAD") or g.get("_db_retried") or not getattr(exc, "connection_invalidated", False):
        return None
    g._db_retried = True
    from web.db import drop_session

    drop_session()
    g.pop("user", None)
    view = app_view()
    if view is None:
        return None
    try:
        return current_app.make_response(current_app.ensure_sync(view)(**(request.view_args or {})))
    except (OperationalError, InterfaceError):
        return None
    except Exception as again:  # the retried view refused the request as views do (404, 409…)
        return current_app.handle_user_exception(again)


def app_view():
    return current_app.view_functions.get(request.endpoint) if request.endpoint else None
