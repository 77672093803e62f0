"""``/api/openapi.json``, ``/api/asyncapi.json`` and ``/api/docs``: public API and event docs."""

from __future__ import annotations

import json
from functools import cache

import orjson
from aiohttp import web

from confirmhub.asyncapi import asyncapi_document
from receiver.docs.openapi import openapi_document
from receiver.docs.page import render_docs_page

# The documents depend only on the code, so each is built once per process.


@cache
def _openapi_body() -> bytes:
    return orjson.dumps(openapi_document())


@cache
def _asyncapi_body() -> bytes:
    return orjson.dumps(asyncapi_document())


@cache
def _page() -> str:
    return render_docs_page(openapi_document(), asyncapi_document())


async def openapi_json(_request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of every HTTP route."""
    return web.Response(body=_openapi_body(), content_type="application/json")


async def asyncapi_json(_request: web.Request) -> web.Response:
    """The AsyncAPI 3.0 document of the downstream events."""
    return web.Response(body=_asyncapi_body(), content_type="application/json")


async def docs_page(_request: web.Request) -> web.Response:
    """Both documents as one browsable, self-contained HTML page."""
    return web.Response(text=_page(), content_type="text/html")


def docs_files() -> dict[str, str]:
    """The files ``scripts/generate-docs`` writes to ``docs/``, by name."""
    return {
        "openapi.json": json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n",
        "asyncapi.json": json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n",
    }
