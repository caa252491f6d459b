"""Spoken hints: send a recording, poll its transcription (the text and the hints parsed from it)."""
from __future__ import annotations

from flask import jsonify, url_for

from shared.models import TranscriptionStatus
from web import transcriptions_service as service
from web.api.blueprint import api
from web.auth import current_user, token_required
from web.db import current_settings


@api.post("/transcriptions")
@token_required
def create_transcription():
    """Send one spoken hint (multipart `audio`, at most TALES_MAX_AUDIO_S seconds); 202 with where to poll."""
    recording = service.read_recording(current_settings())
    row = service.create(current_user(), recording)
    url = url_for("api.get_transcription", transcription_id=row.id)
    response = jsonify(service.as_json(row, url))
    response.headers["Location"] = url
    return response, 202


@api.get("/transcriptions/<transcription_id>")
@token_required
def get_transcription(transcription_id: str):
    """The transcription's status; once done its text and hints, once failed a Korean reason."""
    row = service.owned(current_user(), transcription_id)
    response = jsonify(service.as_json(row, url_for("api.get_transcription", transcription_id=row.id)))
    response.cache_control.no_store = True  # a child's words: kept by no cache
    return response


def openapi(errors: dict[str, str]) -> tuple[dict, dict]:
    """This module's routes and its answer's schema for GET /openapi.json (web/api/openapi.py)."""
    def answers(ok: str, codes: tuple[str, ...]) -> dict:
        out = {ok: {"description": "success", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transcription"}}}}}
        for code in codes:
            out[code] = {"description": errors[code], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        return out

    audio = {"type": "string", "format": "binary",
             "description": "one spoken hint: WebM/Opus, MP4/AAC (M4A), Ogg, WAV or MP3, up to TALES_MAX_AUDIO_BYTES and "
                            "TALES_MAX_AUDIO_S seconds; the server decides by the file's bytes, not its name or type"}
    paths = {
        "/transcriptions": {"post": {
            "summary": "Send a spoken hint to be transcribed and parsed into hints (404 voice_hints_off where TALES_TRANSCRIBER=none)",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["audio"], "properties": {"audio": audio}}}}},
            "responses": answers("202", ("400", "401", "404", "413", "429", "503")),
        }},
        "/transcriptions/{transcription_id}": {
            "parameters": [{"name": "transcription_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"summary": "A spoken hint's transcription: status, then text and hints, or a Korean error",
                    "responses": answers("200", ("401", "404", "503"))},
        },
    }
    schema = {"type": "object", "required": ["id", "url", "status"], "properties": {
        "id": {"type": "string"}, "url": {"type": "string"},
        "status": {"type": "string", "enum": [status.value for status in TranscriptionStatus]},
        "text": {"type": "string"},
        "hints": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "scene hint fields (name, i_action, setting, feeling, character, ...) heard in the text"},
        "error": {"type": ["string", "null"]},
    }}
    return paths, schema
