"""Confirmations API lists, locales, ids, auth and content types, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.receiver.b2core_examples import (
    ADMIN,
    CREATE_PROVIDER,
    PROVIDERS,
    TEMPLATES,
    Client,
    create,
    restart_ids,
    twilio,
)
from tests.receiver.test_mcn_webhook import assert_problem


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture(autouse=True)
async def _fresh_ids(backend: str, database_url: str) -> None:
    await restart_ids(backend, database_url)


async def listed(client: Client, query: str) -> tuple[list[int], str]:
    """The ids a provider list answers, and its X-Total-Count."""
    response = await client.get(f"{PROVIDERS}?{query}", headers=ADMIN)
    assert response.status == 200, await response.text()
    return [item["id"] for item in await response.json()], response.headers["X-Total-Count"]


async def test_paging_sorting_and_filters(client: Client) -> None:
    for number in range(5):
        await create(client, twilio(name=f"p{number}", isEnabled=number % 2 == 0))
    assert await listed(client, "") == ([1, 2, 3, 4, 5], "5")
    assert await listed(client, "sort_by=createTime&sort_order=desc") == ([5, 4, 3, 2, 1], "5")
    assert await listed(client, "limit=2&offset=1&sort_order=desc") == ([4, 3], "5")
    assert await listed(client, "limit=2&offset=4") == ([5], "5")
    assert await listed(client, "filter[isEnabled]=false") == ([2, 4], "2")
    assert await listed(client, "filter%5BisEnabled%5D=true&limit=1") == ([1], "3")
    assert await listed(client, "filter[name]=p3&filter[provider]=Twilio") == ([4], "1")
    assert await listed(client, "filter[caption]=Twilio%20SMS&offset=10") == ([], "5")
    assert await listed(client, "filter[provider]=Fake") == ([], "0")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "offset=-1",
        "sort_by=name",
        "sort_order=up",
        "filter[isEnabled]=maybe",
        "filter[priority]=1",
        "filter[]=x",
        "page=2",
        "limit=1&limit=2",
    ],
)
@pytest.mark.parametrize("collection", [PROVIDERS, TEMPLATES])
async def test_invalid_list_queries_are_422(client: Client, collection: str, query: str) -> None:
    await assert_problem(await client.get(f"{collection}?{query}", headers=ADMIN), 422)


@pytest.mark.parametrize(
    ("accept_language", "caption"),
    [
        (None, "Twilio SMS"),
        ("ja", "ツイリオ"),
        ("ru-RU,ru;q=0.9", "Твилио"),
        ("ru", "Твилио"),
        ("en_US", "Twilio (US)"),
        ("en-GB", "Twilio (US)"),
        ("de, en;q=0.5", "Twilio (US)"),
        ("ja;q=0.1, ru;q=0.8", "Твилио"),
        ("de", "Twilio SMS"),
        ("*", "Twilio SMS"),
        ("ja;q=0", "Twilio SMS"),
    ],
)
async def test_accept_language_picks_the_caption(
    client: Client, accept_language: str | None, caption: str
) -> None:
    resources = [
        {"key": "caption", "locale": "ru_RU", "value": "Твилио"},
        {"key": "caption", "locale": "en_US", "value": "Twilio (US)"},
        {"key": "caption", "locale": "ja", "value": "ツイリオ"},
        {"key": "hint", "locale": "de_DE", "value": "not a caption"},
    ]
    await create(client, twilio(resources=resources))
    headers = ADMIN if accept_language is None else {**ADMIN, "Accept-Language": accept_language}
    one = await (await client.get(f"{PROVIDERS}/1", headers=headers)).json()
    many = await (await client.get(PROVIDERS, headers=headers)).json()
    assert one["caption"] == many[0]["caption"] == caption
    assert one["resources"] == resources


@pytest.mark.parametrize("provider_id", ["2", "0", "abc", "1.0", "99999999999", "-1"])
@pytest.mark.parametrize("collection", [PROVIDERS, TEMPLATES])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_ids_are_404(
    client: Client, collection: str, method: str, provider_id: str
) -> None:
    await create(client, twilio())
    body = {"priority": 1} if method == "PATCH" else None
    response = await client.request(method, f"{collection}/{provider_id}", json=body, headers=ADMIN)
    await assert_problem(response, 404)


async def test_unknown_type_settings_are_404(client: Client) -> None:
    response = await client.get(f"{PROVIDERS}/types/Fake/settings", headers=ADMIN)
    await assert_problem(response, 404)


@pytest.mark.parametrize("provider", ["Twilio", "Vonage", "SMSAero"])
async def test_every_type_has_a_b2core_shaped_settings_schema(
    client: Client, provider: str
) -> None:
    response = await client.get(f"{PROVIDERS}/types/{provider}/settings", headers=ADMIN)
    settings: dict[str, dict[str, Any]] = await response.json()
    assert "base_url" in settings
    for name, field in settings.items():
        assert set(field) == {"label", "rule", "class", "name", "classes", "value", "messages"}
        assert field["name"] == name
        assert field["class"].startswith("RabbitCMS\\Forms\\Controls\\")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PROVIDERS),
        ("POST", PROVIDERS),
        ("GET", f"{PROVIDERS}/types"),
        ("GET", f"{PROVIDERS}/types/Twilio/settings"),
        ("GET", f"{PROVIDERS}/1"),
        ("PATCH", f"{PROVIDERS}/1"),
        ("DELETE", f"{PROVIDERS}/1"),
        ("GET", TEMPLATES),
        ("POST", TEMPLATES),
        ("GET", f"{TEMPLATES}/1"),
        ("PATCH", f"{TEMPLATES}/1"),
        ("DELETE", f"{TEMPLATES}/1"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token"])
async def test_admin_token_is_required(
    client: Client, method: str, path: str, authorization: str | None
) -> None:
    await create(client, twilio())
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(method, path, data=CREATE_PROVIDER, headers=headers)
    await assert_problem(response, 401)
    assert (await client.get(f"{PROVIDERS}/1", headers=ADMIN)).status == 200


async def test_a_body_without_content_type_is_read_as_json(client: Client) -> None:
    response = await client.post(
        PROVIDERS, data=CREATE_PROVIDER, headers=ADMIN, skip_auto_headers=["Content-Type"]
    )
    assert response.status == 201, await response.text()


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", CREATE_PROVIDER, 415),
        ("application/x-www-form-urlencoded", "name=Twilio&provider=Twilio", 415),
        ("application/json", "{not json", 400),
        ("application/json", "[]", 422),
    ],
)
async def test_bodies_that_are_not_json_objects(
    client: Client, content_type: str, body: str, status: int
) -> None:
    headers = {**ADMIN, "Content-Type": content_type}
    await assert_problem(await client.post(PROVIDERS, data=body, headers=headers), status)
