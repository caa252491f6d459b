"""Errors as JSON `{"error": {"code", "message", "field"?}}` under /api; a Korean page everywhere else."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from web.schemas import describe_error, error_code


class ApiError(Exception):
    """A request the service refuses, with a message a person can act on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


# What the pages say for each refusal; the service's own message is English for API clients.
KOREAN: dict[str, str] = {
    "not_found": "찾는 것이 없어요.",
    "no_images": "사진을 1장에서 10장까지 골라 주세요.",
    "too_many_images": "사진은 한 책에 10장까지 넣을 수 있어요.",
    "bad_image": "사진으로 읽을 수 없는 파일이 있어요.",
    "scene_count": "사진마다 힌트가 하나씩 있어야 해요.",
    "too_many_books_in_progress": "만들고 있는 책이 너무 많아요. 하나가 끝난 뒤 다시 해 주세요.",
    "wrong_state": "지금 책의 상태에서는 할 수 없는 일이에요. 페이지를 새로 고쳐 보세요.",
    "annotations_missing": "장면마다 힌트(주인공, 행동, 분류)를 먼저 적어 주세요.",
    "email_taken": "이미 가입된 이메일이에요. 로그인해 주세요.",
    "bad_credentials": "이메일 또는 비밀번호가 맞지 않아요.",
    "invalid": "입력한 내용을 확인해 주세요.",
    "unsafe_text": "아이 그림책에 넣을 수 없는 말이 있어요. 다른 말로 바꿔 주세요.",
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
    500: ("서버 오류", "서버에 문제가 생겼어요. 잠시 후 다시 해 주세요."),
}


def korean(exc: ApiError) -> str:
    """A page's wording for a refused request, keeping the English detail where it names a file."""
    text = KOREAN.get(exc.code)
    if text is None:
        return exc.message
    return f"{text} ({exc.message})" if exc.code in ("bad_image", "invalid") else text


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


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        if not wants_json():
            return error_page(exc.status, korean(exc))
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        message, field = describe_error(exc)
        if not wants_json():
            return error_page(400, f"{KOREAN[error_code(exc)]} ({message})")
        return error_response(400, error_code(exc), message, field)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        if not wants_json():
            return error_page(400, "보안 확인 값(CSRF 토큰)이 없거나 맞지 않아요. 페이지를 새로 고친 뒤 다시 해 주세요.")
        return error_response(400, "csrf_failed", f"{exc.description} Send the page's CSRF token in the X-CSRFToken header.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not wants_json():
            if exc.code == 429:
                return error_page(429, f"{PAGE_MESSAGES[429][1]} (한도: {exc.description})")
            if exc.code == 413:
                config = app.extensions["talesrunner.settings"]
                return error_page(413, f"사진이 너무 커요. 사진 한 장은 {config.TALES_MAX_IMAGE_BYTES // 1_000_000}MB까지, "
                                       f"한 책에 {config.TALES_MAX_IMAGES}장까지 올릴 수 있어요.")
            return error_page(exc.code or 500)
        messages = {
            404: "not found",
            405: "method not allowed",
            413: "the upload is too large: at most 10 photos of "
            f"{app.extensions['talesrunner.settings'].TALES_MAX_IMAGE_BYTES // 1_000_000} MB each",
            429: f"too many requests: {exc.description}",
        }
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, messages.get(exc.code or 0, exc.description or code))
