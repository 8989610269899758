"""The OpenAPI 3.1 document of the JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from bot import __version__

__all__ = ["OPENAPI"]


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": {"$ref": schema}}}},
        "304": {"description": "not modified (If-None-Match matched the ETag)"},
        "404": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"},
    }


def _path(summary: str, schema: str, *params: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": list(params), "responses": _ok(summary, schema)}}


def _param(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    }


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_LINES = {"type": "array", "items": _STR, "description": "the channel command's reply, line by line"}
_RELEASE = {
    "type": "object",
    "properties": {
        "project": _STR,
        "source": _STR,
        "channel": _STR,
        "stream": _STR,
        "label": _STR,
        "version": _STR,
        "published": {"type": ["string", "null"], "format": "date-time"},
        "link": _NSTR,
        "packages": {"type": "object", "additionalProperties": _STR, "description": "key packages"},
        "all_packages": {"type": "object", "additionalProperties": _STR},
        "summary": _STR,
    },
    "required": ["project", "channel", "stream", "version"],
}


def _answer(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"command": _STR, "text": _LINES, **extra},
        "required": ["command", "text", *extra],
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "release-bot API",
        "version": __version__,
        "description": "What the bot's channel commands answer, from its stored state, as JSON. Read-only.",
    },
    "paths": {
        "/api/v1/releases": _path(
            "!release: the current release of every channel and LTS stream", "#/components/schemas/Releases"
        ),
        "/api/v1/releases/{name}": _path(
            "!release <channel|version>",
            "#/components/schemas/Releases",
            _param("name", "channel, LTS stream or version", "stable"),
        ),
        "/api/v1/changes/{name}": _path(
            "!changes <channel|version>",
            "#/components/schemas/Changes",
            _param("name", "channel, LTS stream or version", "stable"),
        ),
        "/api/v1/deprecations": _path(
            "!deprecations: notices on their way through the channels", "#/components/schemas/Deprecations"
        ),
        "/api/v1/roadmap": _path("!roadmap: open roadmap items", "#/components/schemas/Roadmap"),
        "/api/v1/cve/{id}": _path(
            "!cve <id>: the first release of each stream whose notes list it",
            "#/components/schemas/Cve",
            _param("id", "CVE-YYYY-NNNN or GHSA-xxxx-xxxx-xxxx", "CVE-2024-6387"),
        ),
    },
    "components": {
        "schemas": {
            "Release": _RELEASE,
            "Releases": _answer(
                {"releases": {"type": "array", "items": {"$ref": "#/components/schemas/Release"}}}
            ),
            "Changes": _answer(
                {
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "release": {"$ref": "#/components/schemas/Release"},
                                "previous": {
                                    "oneOf": [{"$ref": "#/components/schemas/Release"}, {"type": "null"}]
                                },
                                "changes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {"package": _STR, "old": _NSTR, "new": _NSTR},
                                    },
                                },
                                "summary": _STR,
                            },
                        },
                    }
                }
            ),
            "Deprecations": _answer({"notices": {"type": "array", "items": {"type": "object"}}}),
            "Roadmap": _answer({"items": {"type": "array", "items": {"type": "object"}}}),
            "Cve": _answer(
                {
                    "id": _STR,
                    "packages": {"type": "array", "items": _STR},
                    "streams": {"type": "array", "items": {"type": "object"}},
                }
            ),
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"status": {"type": "integer"}, "message": _STR},
                    }
                },
            },
        },
        "responses": {
            "Error": {
                "description": "an error, with a message",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    },
}
