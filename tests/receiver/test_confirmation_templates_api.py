"""B2Core-style confirmation templates: the documented requests and their rules."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.receiver.b2core_examples import (
    ADMIN,
    CREATE_TEMPLATE,
    CURL_FORM,
    PATCH_TEMPLATE,
    TEMPLATE_LIST_QUERY,
    TEMPLATES,
    Client,
    restart_ids,
)
from tests.receiver.test_mcn_webhook import assert_problem


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture(autouse=True)
async def _fresh_ids(backend: str, database_url: str) -> None:
    await restart_ids(backend, database_url)


def template(**overrides: Any) -> dict[str, Any]:
    """A valid template body."""
    body: dict[str, Any] = {
        "name": "default",
        "caption": "Default",
        "template": "Your code: %CODE%",
        "isEnabled": True,
    }
    body.update(overrides)
    return body


async def test_documented_template_requests(client: Client) -> None:
    created = await client.post(TEMPLATES, data=CREATE_TEMPLATE, headers=CURL_FORM)
    assert created.status == 201, await created.text()
    assert created.headers["Location"] == f"{TEMPLATES}/1"
    view = await created.json()
    documented = orjson.loads(CREATE_TEMPLATE)
    assert view == {
        **documented,
        "id": 1,
        "priority": 0,
        "createTime": view["createTime"],
        "updateTime": view["updateTime"],
    }

    headers = {**ADMIN, "accept-language": "ja"}
    listed = await client.get(f"{TEMPLATES}?{TEMPLATE_LIST_QUERY}", headers=headers)
    assert (listed.status, await listed.json()) == (200, [])
    assert listed.headers["X-Total-Count"] == "0"
    matching = TEMPLATE_LIST_QUERY.replace("=name", "=default").replace(
        "=caption", "=Twilio%20Template"
    )
    listed = await client.get(f"{TEMPLATES}?{matching}", headers=headers)
    assert await listed.json() == [view]

    got = await client.get(f"{TEMPLATES}/1", headers=ADMIN)
    assert (got.status, await got.json()) == (200, view)

    patched = await client.patch(f"{TEMPLATES}/1", data=PATCH_TEMPLATE, headers=CURL_FORM)
    assert patched.status == 200, await patched.text()
    after = await patched.json()
    assert (after["caption"], after["priority"]) == ("Twilio template", 1)
    assert after["createTime"] == view["createTime"]
    assert after["updateTime"] >= view["updateTime"]

    deleted = await client.delete(f"{TEMPLATES}/1", headers=ADMIN)
    assert (deleted.status, await deleted.read()) == (204, b"")
    await assert_problem(await client.get(f"{TEMPLATES}/1", headers=ADMIN), 404)


@pytest.mark.parametrize(
    "body",
    [
        template(template="Your code is ready"),
        template(template=""),
        template(resources=[{"key": "template", "locale": "ru_RU", "value": "Ваш код"}]),
        template(isEnabled="perhaps"),
        template(extra="field"),
        {"name": "default", "isEnabled": True},
    ],
)
async def test_invalid_templates_are_422(client: Client, body: dict[str, Any]) -> None:
    await assert_problem(await client.post(TEMPLATES, json=body, headers=ADMIN), 422)


async def test_patch_changes_only_what_it_sends(client: Client) -> None:
    resources = [{"key": "template", "locale": "ru_RU", "value": "Ваш код: %CODE%"}]
    await client.post(TEMPLATES, json=template(resources=resources), headers=ADMIN)
    # B2Core documents a template's priority as a string.
    response = await client.patch(f"{TEMPLATES}/1", json={"priority": "2"}, headers=ADMIN)
    view = await response.json()
    assert (view["priority"], view["template"], view["resources"]) == (
        2,
        "Your code: %CODE%",
        resources,
    )
    response = await client.patch(
        f"{TEMPLATES}/1", json={"isEnabled": False, "resources": []}, headers=ADMIN
    )
    view = await response.json()
    assert (view["isEnabled"], view["resources"], view["name"]) == (False, [], "default")
    for body in (
        {"template": "no code"},
        {"resources": [{"key": "template", "locale": "ja", "value": "x"}]},
    ):
        problem = await assert_problem(
            await client.patch(f"{TEMPLATES}/1", json=body, headers=ADMIN), 422
        )
        assert "%CODE%" in problem["detail"]


async def test_template_list_filters_and_captions(client: Client) -> None:
    for number in range(3):
        resources = [{"key": "caption", "locale": "ru_RU", "value": f"Шаблон {number}"}]
        body = template(name=f"t{number}", isEnabled=number != 1, resources=resources)
        await client.post(TEMPLATES, json=body, headers=ADMIN)
    headers = {**ADMIN, "Accept-Language": "ru-RU,ru;q=0.9"}
    response = await client.get(
        f"{TEMPLATES}?filter[isEnabled]=true&sort_order=desc&limit=1", headers=headers
    )
    assert response.headers["X-Total-Count"] == "2"
    assert [(item["id"], item["caption"]) for item in await response.json()] == [(3, "Шаблон 2")]
