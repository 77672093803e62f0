"""The request bodies, queries and answers of B2Core's "Confirmations" API reference, verbatim."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any, TypeAlias

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from confirmhub.db.engine import create_engine
from tests.conftest import ADMIN_TOKEN

Client: TypeAlias = TestClient[web.Request, web.Application]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# What curl sends for --data without a Content-Type header, as B2Core's examples do.
CURL_FORM = {**ADMIN, "Content-Type": "application/x-www-form-urlencoded"}
PROVIDERS = "/api/v2/confirmations/providers"
TEMPLATES = "/api/v2/confirmations/templates"

PROVIDER_LIST_QUERY = (
    "limit=10&offset=0&sort_order=desc&sort_by=createTime&filter[provider]=Fake"
    "&filter[isEnabled]=true&filter[name]=Fake&filter[caption]=Fake"
)
TEMPLATE_LIST_QUERY = (
    "limit=10&offset=0&sort_order=desc&sort_by=createTime&filter[isEnabled]=true"
    "&filter[name]=name&filter[caption]=caption"
)

CREATE_PROVIDER = """{
"name": "Twilio",
"caption": "Twilio SMS",
"provider": "Twilio",
"isEnabled": true,
"options": {
"api_sid": "API Sid",
"api_secret": "API secret",
"from": "+995595854561"
},
"resources": [
{
"key": "caption",
"locale": "ru_RU",
"value": "value"
},
{
"key": "caption",
"locale": "en_US",
"value": "value"
}
]
}"""

PATCH_PROVIDER = """{
"name": "Twilio",
"caption": "Twilio SMS",
"provider": "Twilio",
"isEnabled": true,
"priority": 1,
"options": {
"api_sid": "API Sid",
"api_secret": "API secret",
"from": "+995595854561"
},
"resources": [
{
"key": "caption",
"locale": "ru_RU",
"value": "value"
},
{
"key": "caption",
"locale": "en_US",
"value": "value"
}
]
}"""

CREATE_TEMPLATE = """{
"name": "default",
"caption": "Twilio Template",
"template": "The verification code is %CODE%",
"isEnabled": true,
"resources": [
{
"key": "caption",
"locale": "ru_RU",
"value": "value"
},
{
"key": "caption",
"locale": "en_US",
"value": "value"
}
]
}"""

PATCH_TEMPLATE = """{
"name": "default",
"caption": "Twilio template",
"template": "The verification code is %CODE%",
"isEnabled": true,
"priority": 1,
"resources": [
{
"key": "caption",
"locale": "ru_RU",
"value": "value"
},
{
"key": "caption",
"locale": "en_US",
"value": "value"
}
]
}"""

TWILIO_SETTINGS: dict[str, Any] = orjson.loads(r"""{
"api_sid": {
"label": "API sid",
"rule": [
"required"
],
"class": "RabbitCMS\\Forms\\Controls\\Input",
"name": "api_sid",
"classes": [],
"value": null,
"messages": []
},
"api_secret": {
"label": "API secret",
"class": "RabbitCMS\\Forms\\Controls\\Password",
"name": "api_secret",
"rule": null,
"classes": [],
"value": null,
"messages": []
},
"from": {
"label": "Sender phone number",
"rule": [
"phone:AUTO",
"required"
],
"class": "RabbitCMS\\Forms\\Controls\\Input",
"name": "from",
"classes": [],
"value": null,
"messages": []
}
}""")

CURL = shutil.which("curl")
TWILIO_SECRET = "tw-secret-5c1d9e"


async def curl(client: Client, *args: str) -> tuple[int, bytes]:
    """Run the real curl against the app (``host.name`` replaced); its status and body."""
    base = str(client.make_url("")).rstrip("/")
    argv = [arg.replace("https://host.name", base) for arg in args]
    assert CURL is not None
    process = await asyncio.create_subprocess_exec(
        CURL,
        "--silent",
        "--show-error",
        "--write-out",
        "\n%{http_code}",
        *argv,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    body, _, status = output.rpartition(b"\n")
    return int(status), body


async def restart_ids(backend: str, database_url: str) -> None:
    """Make ids start at 1 again, as on a fresh install, so the documented ``/1`` paths work."""
    if backend != "postgresql":
        return  # each SQLite test copies a fresh file
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "TRUNCATE confirmation_providers, confirmation_templates RESTART IDENTITY"
            )
    finally:
        await engine.dispose()


def twilio(**overrides: Any) -> dict[str, Any]:
    """A valid Twilio provider body with a recognisable secret."""
    body: dict[str, Any] = {
        "name": "twilio-main",
        "caption": "Twilio SMS",
        "provider": "Twilio",
        "isEnabled": True,
        "options": {"api_sid": "AC123", "api_secret": TWILIO_SECRET, "from": "+995595854561"},
        "resources": [],
    }
    body.update(overrides)
    return body


async def create(
    client: Client,
    body: dict[str, Any],
) -> dict[str, Any]:
    """POST a provider as JSON; its view."""
    response = await client.post(PROVIDERS, json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created
