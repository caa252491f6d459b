"""The signed, expiring download link that emails carry when a PDF is too large to attach."""
from __future__ import annotations

from flask import Blueprint

from shared.links import LinkExpired, LinkInvalid, read_book_token
from shared.models import Book
from shared.status import BookStatus
from web import books_service as service
from web.db import current_settings, get_session
from web.downloads import send_stored
from web.errors import error_page

bp = Blueprint("shared_links", __name__)


@bp.get("/shared/<token>.pdf")
def download(token: str):
    """Send the PDF named by a signed link; no login, as the link itself is the permission."""
    try:
        book_id = read_book_token(current_settings(), token)
    except LinkExpired:
        return error_page(410)
    except LinkInvalid:
        return error_page(404, "이 내려받기 링크는 올바르지 않아요. 메일에 있는 주소 전체를 그대로 열어 주세요.")
    book = get_session().get(Book, book_id)
    if book is None:
        return error_page(404, "이 그림책은 지워졌어요.")
    rebuilding = error_page(409, "그림책을 고쳐서 다시 만들고 있어요. 잠시 후 다시 열어 주세요.")
    if book.status is not BookStatus.DONE or not book.pdf_name:
        # Being rebuilt after an edit: the link keeps working once the new PDF is in place.
        return rebuilding
    try:
        response = send_stored(service.storage(), book.pdf_name, "application/pdf",
                               download_name=f"talesrunner-{book.id[:8]}.pdf", allow_redirect=True)
    except FileNotFoundError:
        return rebuilding
    # Whoever holds the link may fetch it, but shared caches and other sites' pages may not keep it.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
