"""Share links: make one for a finished book, list the live ones, revoke one (docs/api.md, "Share links")."""
from __future__ import annotations

from flask import jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from web import books_service as service
from web import links_service as links
from web.api.blueprint import api
from web.api.users import json_body
from web.auth import current_user, token_required


class ShareRequest(BaseModel):
    """How long a new link stays open; the server's default (TALES_SHARE_DAYS) when left out."""

    model_config = ConfigDict(extra="forbid")

    days: StrictInt | None = Field(default=None, ge=1, description="whole days; the link closes at the end of the last one, "
                                                                    "up to TALES_SHARE_MAX_DAYS")


@api.post("/books/<book_id>/links")
@token_required
def create_link(book_id: str):
    """Make a link that opens the finished book read-only without an account, for `days` days."""
    book = service.owned_book(current_user(), book_id)
    link = links.make_link(book, ShareRequest.model_validate(json_body(optional=True)).days)
    response = jsonify(links.link_json(link))
    response.headers["Location"] = url_for("api.list_links", book_id=book.id)
    return response, 201


@api.get("/books/<book_id>/links")
@token_required
def list_links(book_id: str):
    """The book's links that still open, oldest first."""
    book = service.owned_book(current_user(), book_id)
    return jsonify(links=[links.link_json(link) for link in links.live_links(book)])


@api.delete("/books/<book_id>/links/<link_id>")
@token_required
def delete_link(book_id: str, link_id: str):
    """Revoke a link: its address answers 404 from now on."""
    links.revoke_link(service.owned_book(current_user(), book_id), link_id)
    return "", 204


def openapi(errors: dict[str, str]) -> tuple[dict, dict]:
    """This module's routes and schemas for GET /openapi.json (web/api/openapi.py)."""
    def answers(ok: str, schema: str | None, codes: tuple[str, ...]) -> dict:
        out: dict = {ok: {"description": "success"}}
        if schema:
            out[ok]["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        for code in codes:
            out[code] = {"description": errors[code], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        return out

    book = [{"name": "book_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths = {
        "/books/{book_id}/links": {
            "parameters": book,
            "post": {"summary": "Make a link that opens the finished book read-only without an account (409 while not finished)",
                     "requestBody": {"required": False, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/ShareRequest"}}}},
                     "responses": answers("201", "ShareLink", ("400", "401", "404", "409", "413", "503"))},
            "get": {"summary": "The book's links that still open, oldest first",
                    "responses": answers("200", "ShareLinks", ("401", "404", "503"))},
        },
        "/books/{book_id}/links/{link_id}": {
            "parameters": [*book, {"name": "link_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": {"summary": "Revoke a link: its address answers 404 from now on",
                       "responses": answers("204", None, ("401", "404", "503"))},
        },
    }
    link = {"type": "object", "required": ["id", "url", "created_at", "expires_at", "open_until"], "properties": {
        "id": {"type": "string"}, "url": {"type": "string", "description": "the address to give: /s/<token> on this server"},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time", "description": "UTC; the end of the last day in TALES_TIMEZONE"},
        "open_until": {"type": "string", "description": "the period in the owner's words, e.g. 12월 31일까지 열려요"},
    }}
    schemas = {
        "ShareRequest": ShareRequest.model_json_schema(),
        "ShareLink": link,
        "ShareLinks": {"type": "object", "required": ["links"], "properties": {
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/ShareLink"}}}},
    }
    return paths, schemas
