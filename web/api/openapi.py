"""GET /api/v1/openapi.json: the spec of the JSON API, with request schemas from the pydantic models."""
from __future__ import annotations

from flask import jsonify

from shared.status import BookStatus
from shared.vocabulary import AGE_BANDS
from web.api.blueprint import api
from web.api import links, transcriptions
from web.schemas import (
    AlternativeChoice,
    BookRequest,
    BookUpdate,
    Credentials,
    EmailBook,
    PasswordCheck,
    PictureChoice,
    ScenesUpdate,
    TextEdit,
)

_ERROR = {"$ref": "#/components/schemas/Error"}
_BOOK = {"$ref": "#/components/schemas/Book"}


# What each error status means here. 401: no bearer token (or session), or one that was revoked;
# on POST /tokens, a wrong email or password. 503: the database or the broker is unreachable.
ERRORS = {
    "400": "the input is refused; `error.field` names the part",
    "401": "sign in: send `Authorization: Bearer <token>` (POST /tokens); the token is unknown or revoked",
    "403": "the password given is not this account's; on /email, the account's address is not confirmed yet "
           "(`email_not_confirmed`: it may mail only itself until then)",
    "404": "no such book (someone else's book is not found either)",
    "409": "the book's state does not allow it now",
    "413": "the body, a text field or the photos are over their limits",
    "429": "a rate limit or the limit of books in progress",
    "503": "the database or the job queue is unreachable; retry after the Retry-After seconds",
}


def _op(summary: str, ok: str, body: str | None = None, multipart: bool = False, auth: bool = True, ok_schema=_BOOK,
        errors: tuple[str, ...] | None = None) -> dict:
    op: dict = {"summary": summary, "responses": {ok: {"description": "success"}}}
    if ok_schema is not None and ok != "204":
        op["responses"][ok]["content"] = {"application/json": {"schema": ok_schema}}
    if errors is None:
        errors = ("400", "401", "404", "409", "413", "429", "503") if auth else ("400", "409", "413", "429", "503")
    for status in errors:
        op["responses"][status] = {"description": ERRORS[status], "content": {"application/json": {"schema": _ERROR}}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if multipart:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "required": ["images"],
                "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "maxItems": 10,
                               "description": "JPEG, PNG, WEBP, GIF, BMP or TIFF files that decode completely, in story order"},
                    "book": {"$ref": "#/components/schemas/BookRequest"},
                },
            }, "encoding": {"book": {"contentType": "application/json"}}}},
        }
    if not auth:
        op["security"] = []
    return op


def _id_param(*extra: str) -> list[dict]:
    params = [{"name": "book_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    params += [{"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}} for name in extra]
    return params


def build_spec() -> dict:
    """The OpenAPI 3.1 document."""
    schemas = {model.__name__: model.model_json_schema(ref_template="#/components/schemas/{model}")
               for model in (Credentials, PasswordCheck, BookRequest, BookUpdate, ScenesUpdate, TextEdit, EmailBook, PictureChoice,
                             AlternativeChoice)}
    for model_schema in list(schemas.values()):
        schemas.update(model_schema.pop("$defs", {}))
    schemas["Error"] = {"type": "object", "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "stable English word to branch on (docs/api.md, Errors)"},
        "message": {"type": "string", "description": "a Korean sentence for people, in the pages' words"},
        "field": {"type": "string"}}}}}
    schemas["Book"] = {"type": "object", "required": ["id", "status", "progress"], "properties": {
        "id": {"type": "string"}, "title": {"type": ["string", "null"]}, "title_generated": {"type": "boolean"},
        "age": {"type": ["string", "null"], "enum": [*AGE_BANDS, None]},
        "style": {"type": "string"}, "dedication": {"type": ["string", "null"]},
        "book_hints": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "status": {"type": "string", "enum": [s.value for s in BookStatus]}, "stage": {"type": ["string", "null"]},
        "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}},
        "scenes": {"type": "array", "items": {"type": "object"}}, "pdf_url": {"type": "string"}, "epub_url": {"type": "string"},
        # false while a finished book is made again after an edit: pdf_url/epub_url serve the previous files
        "files_current": {"type": "boolean"},
        "narrator": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
    }}
    book = "/books/{book_id}"
    scene = book + "/scenes/{index}"
    paths = {
        "/users": {"post": _op("Sign up (a mail with a link that confirms the address is sent)", "201", "Credentials",
                               auth=False, ok_schema={"type": "object"})},
        "/users/me/confirmation": {"post": _op("Mail the link that confirms my address again (200: confirmed already; "
                                               "409 mail_unavailable: this server cannot mail)", "202", ok_schema={"type": "object"},
                                               errors=("401", "409", "429", "503"))},
        "/users/me": {"delete": _op("Delete my account with every book, photo and PDF (needs my password)", "204",
                                    "PasswordCheck", ok_schema=None, errors=("400", "401", "403", "413", "429", "503"))},
        "/tokens": {"post": _op("Get a bearer token", "201", "Credentials", auth=False, ok_schema={"type": "object"},
                                errors=("400", "401", "413", "429", "503"))},
        "/books": {
            "post": _op("Create a book from 1-10 photos", "202", multipart=True),
            "get": _op("List my books, newest first", "200", ok_schema={"type": "object"}),
        },
        book: {"parameters": _id_param(), "get": _op("Get a book", "200"), "delete": _op("Delete a book", "204", ok_schema=None),
               "patch": _op("Rename a book", "202", "BookUpdate")},
        book + "/scenes": {"parameters": _id_param(), "put": _op("Annotate every scene", "200", "ScenesUpdate")},
        book + "/generate": {"parameters": _id_param(), "post": _op("Start writing", "202")},
        book + "/retry": {"parameters": _id_param(), "post": _op("Retry a failed book", "202")},
        book + "/email": {"parameters": _id_param(), "post": _op(
            "Email the book (someone else's address: a confirmed account, TALES_MAIL_PER_DAY a day)", "202", "EmailBook",
            errors=("400", "401", "403", "404", "409", "413", "429", "503"))},
        book + "/pdf": {"parameters": _id_param(), "get": _op("Download the PDF", "200", ok_schema=None)},
        scene: {"parameters": _id_param("index"), "patch": _op("Edit a paragraph", "202", "TextEdit")},
        scene + "/regenerate": {"parameters": _id_param("index"), "post": _op("Regenerate a scene", "202")},
        scene + "/undo": {"parameters": _id_param("index"), "post": _op("Undo the last regeneration of a scene", "202")},
        scene + "/choose": {"parameters": _id_param("index"),
                            "post": _op("Put one of the scene's alternatives (scenes[].alternatives) on the page", "202",
                                        "AlternativeChoice")},
        book + "/epub": {"parameters": _id_param(), "get": _op("Download the read-along e-book (EPUB 3)", "200", ok_schema=None)},
        scene + "/image": {"parameters": _id_param("index"), "get": _op("The scene's photo", "200", ok_schema=None)},
        scene + "/audio": {"parameters": _id_param("index"), "get": _op("The page read aloud (MP3)", "200", ok_schema=None)},
        scene + "/picture": {"parameters": _id_param("index"),
                             "get": _op("The page's picture as printed (drawn, or the photo)", "200", ok_schema=None),
                             "put": _op("Show the page's photo or its drawing", "202", "PictureChoice")},
        scene + "/redraw": {"parameters": _id_param("index"), "post": _op("Draw the page again with a new seed", "202")},
        "/styles": {"get": _op("The picture styles this server can draw", "200", auth=False, ok_schema={"type": "object"},
                               errors=("503",))},
    }
    spoken, schemas["Transcription"] = transcriptions.openapi(ERRORS)  # spoken hints (web/api/transcriptions.py)
    paths.update(spoken)
    shared, link_schemas = links.openapi(ERRORS)  # share links (web/api/links.py)
    paths.update(shared)
    schemas.update(link_schemas)
    paths["/users/me/confirmation"]["post"]["responses"]["200"] = {
        "description": "the address is confirmed already; nothing mailed", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "TalesRunner API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas},
        "paths": paths,
    }


@api.get("/openapi.json")
def openapi_json():
    """The OpenAPI document for this API."""
    return jsonify(build_spec())
