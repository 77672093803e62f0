"""B2Core-style SMS providers: the documented requests, secrets, validation and lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from confirmhub.crypto import SecretsBox
from confirmhub.db import confirmations as db
from confirmhub.db.engine import create_engine
from confirmhub.settings import Settings
from tests.receiver.b2core_examples import (
    ADMIN,
    CREATE_PROVIDER,
    CURL,
    CURL_FORM,
    PATCH_PROVIDER,
    PROVIDER_LIST_QUERY,
    PROVIDERS,
    TWILIO_SECRET,
    TWILIO_SETTINGS,
    Client,
    create,
    curl,
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


async def stored_configs(settings: Settings) -> list[db.SmsProviderConfig]:
    """What the worker would read: enabled providers with decrypted secrets."""
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as connection:
            return await db.enabled_providers(connection, SecretsBox(settings.secrets_key))
    finally:
        await engine.dispose()


async def test_documented_provider_requests(client: Client) -> None:
    seen: list[bytes] = []

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        response = await client.request(method, path, **kwargs)
        seen.append(await response.read())
        return response

    created = await call("POST", PROVIDERS, data=CREATE_PROVIDER, headers=CURL_FORM)
    assert created.status == 201, await created.text()
    view = await created.json()
    assert created.headers["Location"] == f"{PROVIDERS}/1"
    assert set(view) == {
        "id", "name", "caption", "provider", "isEnabled", "priority", "options", "resources",
        "createTime", "updateTime",
    }  # fmt: skip
    assert view["id"] == 1
    assert view["options"] == {
        "api_sid": "API Sid",
        "api_secret": "********",
        "from": "+995595854561",
    }
    assert (view["isEnabled"], view["priority"]) == (True, 0)
    assert view["resources"] == orjson.loads(CREATE_PROVIDER)["resources"]

    headers = {**ADMIN, "accept-language": "ja"}
    listed = await call("GET", f"{PROVIDERS}?{PROVIDER_LIST_QUERY}", headers=headers)
    assert (listed.status, await listed.json()) == (200, [])
    assert listed.headers["X-Total-Count"] == "0"
    matching = PROVIDER_LIST_QUERY.replace("Fake", "Twilio") + "%20SMS"  # the caption's end
    listed = await call("GET", f"{PROVIDERS}?{matching}", headers=headers)
    assert [item["id"] for item in await listed.json()] == [1]

    got = await call("GET", f"{PROVIDERS}/1", headers=ADMIN)
    assert (got.status, await got.json()) == (200, view)

    types = await call("GET", f"{PROVIDERS}/types", headers=ADMIN)
    assert await types.json() == ["Twilio", "Vonage", "SMSAero"]
    # Not in seen: the settings schema's own label is "API secret" too.
    settings = await (await client.get(f"{PROVIDERS}/types/Twilio/settings", headers=ADMIN)).json()
    assert {name: settings[name] for name in TWILIO_SETTINGS} == TWILIO_SETTINGS

    patched = await call("PATCH", f"{PROVIDERS}/1", data=PATCH_PROVIDER, headers=CURL_FORM)
    assert patched.status == 200, await patched.text()
    assert (await patched.json())["priority"] == 1

    deleted = await call("DELETE", f"{PROVIDERS}/1", headers=ADMIN)
    assert deleted.status == 204
    assert await deleted.read() == b""
    await assert_problem(await client.get(f"{PROVIDERS}/1", headers=ADMIN), 404)
    assert not any(b"API secret" in body for body in seen)


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
async def test_documented_curl_commands_verbatim(client: Client) -> None:
    auth = f"Authorization: {ADMIN['Authorization']}"
    url = "https://host.name/api/v2/confirmations/providers"
    status, body = await curl(
        client, "--location", "--request", "POST", url, "--header", auth, "--data", CREATE_PROVIDER
    )
    assert status == 201, body
    status, body = await curl(
        client, "--location", "-g", f"{url}?{PROVIDER_LIST_QUERY}",
        "--header", auth, "--header", "accept-language: ja",
    )  # fmt: skip
    assert (status, orjson.loads(body)) == (200, [])
    status, body = await curl(
        client, "--location", "--request", "PATCH", f"{url}/1", "--header", auth,
        "--data", PATCH_PROVIDER,
    )  # fmt: skip
    assert (status, orjson.loads(body)["priority"]) == (200, 1)
    status, body = await curl(
        client, "--location", "--request", "DELETE", f"{url}/1", "--header", auth
    )
    assert (status, body) == (204, b"")


async def test_secrets_are_encrypted_and_never_shown(client: Client, settings: Settings) -> None:
    created = await create(client, twilio())
    path = f"{PROVIDERS}/{created['id']}"
    bodies = [
        await (await client.get(path, headers=ADMIN)).read(),
        await (await client.get(PROVIDERS, headers=ADMIN)).read(),
        await (await client.patch(path, json={"priority": 3}, headers=ADMIN)).read(),
        orjson.dumps(created),
    ]
    assert all(TWILIO_SECRET.encode() not in body for body in bodies)
    assert all(b'"api_secret":"********"' in body for body in bodies)
    [config] = await stored_configs(settings)
    assert config.options["api_secret"] == TWILIO_SECRET
    assert (config.priority, config.provider) == (3, "Twilio")


@pytest.mark.parametrize(
    "options",
    [
        {"api_sid": "AC999", "from": "+15550001111"},  # secret omitted: kept
        {"api_sid": "AC999", "api_secret": "********", "from": "+15550001111"},  # mask: kept
    ],
)
@pytest.mark.parametrize("base_url", [None, "http://x"])
async def test_patch_keeps_the_stored_secret(
    client: Client, settings: Settings, options: dict[str, str], base_url: str | None
) -> None:
    options = options if base_url is None else {**options, "base_url": base_url}
    extra = {} if base_url is None else {"base_url": f" {base_url}/ "}
    created = await create(client, twilio(options={**twilio()["options"], **extra}))
    response = await client.patch(
        f"{PROVIDERS}/{created['id']}", json={"options": options}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    # Options are replaced: what the PATCH leaves out is gone.
    assert (await response.json())["options"] == {**options, "api_secret": "********"}
    [config] = await stored_configs(settings)
    assert config.options == {**options, "api_secret": TWILIO_SECRET}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "http://127.0.0.1:9"),  # the provider's own host → another
        ("https://api.twilio.com", "https://api.twilio.com.evil.example"),
        ("http://gateway.local", None),  # back to the provider's own host
    ],
)
@pytest.mark.parametrize("secret", [None, "********"], ids=["omitted", "masked"])
async def test_patch_to_another_base_url_needs_the_secret_again(
    client: Client,
    settings: Settings,
    before: str | None,
    after: str | None,
    secret: str | None,
) -> None:
    created = await create(client, twilio(options={**twilio()["options"], "base_url": before}))
    path = f"{PROVIDERS}/{created['id']}"
    options = {"api_sid": "AC999", "from": "+15550001111", "base_url": after}
    if secret is not None:
        options["api_secret"] = secret

    problem = await assert_problem(
        await client.patch(path, json={"options": options}, headers=ADMIN), 422
    )
    assert [error["loc"] for error in problem["errors"]] == [["options", "api_secret"]]
    assert "base_url" in problem["detail"]
    # Nothing changed: the stored secret still goes only where it went before.
    [config] = await stored_configs(settings)
    assert config.options.get("base_url") == before
    assert config.options["api_secret"] == TWILIO_SECRET

    options["api_secret"] = "new-host-secret-5e1"
    response = await client.patch(path, json={"options": options}, headers=ADMIN)
    assert response.status == 200, await response.text()
    [config] = await stored_configs(settings)
    assert (config.options.get("base_url"), config.options["api_secret"]) == (
        after,
        "new-host-secret-5e1",
    )


async def test_patch_replaces_a_secret_and_a_type_change_needs_new_ones(
    client: Client, settings: Settings
) -> None:
    path = f"{PROVIDERS}/{(await create(client, twilio()))['id']}"
    options = {"api_sid": "AC1", "api_secret": "rotated-7f2", "from": "+995595854561"}
    assert (await client.patch(path, json={"options": options}, headers=ADMIN)).status == 200
    assert (await stored_configs(settings))[0].options["api_secret"] == "rotated-7f2"

    vonage = {"api_key": "k1", "from": "ACME"}
    problem = await assert_problem(
        await client.patch(path, json={"provider": "Vonage", "options": vonage}, headers=ADMIN),
        422,
    )
    assert {tuple(error["loc"]) for error in problem["errors"]} == {("options", "api_secret")}
    vonage["api_secret"] = "vonage-secret-1"
    response = await client.patch(
        path, json={"provider": "Vonage", "options": vonage}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    [config] = await stored_configs(settings)
    assert (config.provider, config.options) == ("Vonage", vonage)


TWILIO = {"api_sid": "a", "api_secret": "s", "from": "+995595854561"}
VONAGE = {"api_key": "k", "api_secret": "s", "from": "ACME"}
SMSAERO = {"email": "a@example.com", "api_key": "k"}


def without(options: dict[str, str], name: str) -> dict[str, str]:
    """``options`` less one."""
    return {key: value for key, value in options.items() if key != name}


@pytest.mark.parametrize(
    ("provider", "options", "loc"),
    [
        ("Twilio", without(TWILIO, "api_sid"), "api_sid"),
        ("Twilio", without(TWILIO, "api_secret"), "api_secret"),
        ("Twilio", {**TWILIO, "api_secret": "********"}, "api_secret"),  # nothing to keep
        ("Twilio", {**TWILIO, "api_sid": "  "}, "api_sid"),
        ("Twilio", {**TWILIO, "from": "595-854"}, "from"),
        ("Twilio", {**TWILIO, "from": "+1234567890123456"}, "from"),
        ("Twilio", {**TWILIO, "from": 995595854561}, "from"),
        ("Twilio", {**TWILIO, "from": "+995595854561\n"}, "from"),
        ("Twilio", {**TWILIO, "from": "+٩٩٥٥٩٥٨٥٤٥٦١"}, "from"),  # not ASCII digits
        ("Twilio", {**TWILIO, "api_sid": 7}, "api_sid"),
        ("Twilio", {**TWILIO, "api_sid": ["a"]}, "api_sid"),
        ("Twilio", {**TWILIO, "x": "1"}, "x"),
        ("Twilio", {**TWILIO, "base_url": "ftp://h"}, "base_url"),
        ("Twilio", {**TWILIO, "base_url": "http://"}, "base_url"),
        ("Vonage", {**VONAGE, "from": "TwelveChars1"}, "from"),
        ("Vonage", {**VONAGE, "from": "ACME!"}, "from"),
        ("Vonage", TWILIO, "api_sid"),
        ("SMSAero", {**SMSAERO, "email": "not-an-email"}, "email"),
        ("SMSAero", without(SMSAERO, "api_key"), "api_key"),
    ],
)
async def test_invalid_options_are_422(
    client: Client, provider: str, options: dict[str, Any], loc: str
) -> None:
    body = twilio(provider=provider, options=options)
    problem = await assert_problem(await client.post(PROVIDERS, json=body, headers=ADMIN), 422)
    assert ["options", loc] in [error["loc"] for error in problem["errors"]]
    assert all("input" not in error for error in problem["errors"])


@pytest.mark.parametrize(
    ("provider", "options"),
    [
        ("Vonage", {**VONAGE, "from": "ACME Corp"}),
        ("Vonage", {**VONAGE, "from": "995595854561"}),
        ("SMSAero", {**SMSAERO, "sign": "SMS Aero"}),
        ("Twilio", {**TWILIO, "from": "9955958", "base_url": "http://127.0.0.1:9/"}),
        ("Twilio", {**TWILIO, "base_url": None}),
    ],
)
async def test_valid_options_of_each_type(
    client: Client, provider: str, options: dict[str, str | None]
) -> None:
    view = await create(client, twilio(provider=provider, options=options))
    secret = "api_secret" if provider != "SMSAero" else "api_key"
    shown = {key: value for key, value in options.items() if value is not None}
    assert view["options"] == {**shown, secret: "********"}


@pytest.mark.parametrize(
    "body",
    [
        twilio(provider="Fake"),
        twilio(is_enabled=True),
        twilio(priority=-1),
        twilio(name=""),
        twilio(resources=[{"key": "caption", "locale": "not a locale", "value": "v"}]),
        twilio(resources=[{"key": "caption", "locale": "en_US"}]),
    ],
)
async def test_invalid_provider_bodies_are_422(client: Client, body: dict[str, Any]) -> None:
    await assert_problem(await client.post(PROVIDERS, json=body, headers=ADMIN), 422)


async def test_storing_secrets_without_a_key_is_503(
    make_client: Callable[[Settings], Awaitable[Client]], settings: Settings
) -> None:
    client = await make_client(settings.model_copy(update={"secrets_key": None}))
    problem = await assert_problem(await client.post(PROVIDERS, json=twilio(), headers=ADMIN), 503)
    assert "CONFIRMHUB_SECRETS_KEY" in problem["detail"]


async def test_vonage_signature_secret_is_an_optional_secret(
    client: Client, settings: Settings
) -> None:
    options = {"api_key": "k1", "api_secret": "vonage-secret-1", "from": "ACME"}
    created = await client.post(
        PROVIDERS,
        json={"name": "v", "provider": "Vonage", "isEnabled": True, "options": options},
        headers=ADMIN,
    )
    assert created.status == 201, await created.text()
    path = f"{PROVIDERS}/{(await created.json())['id']}"
    assert "signature_secret" not in (await created.json())["options"]

    signed = {"signature_secret": "vonage-signing-2c", "signature_method": "sha256"}
    response = await client.patch(path, json={"options": {**options, **signed}}, headers=ADMIN)
    assert response.status == 200, await response.text()
    shown = (await response.json())["options"]
    assert (shown["signature_secret"], shown["signature_method"]) == ("********", "sha256")
    # A PATCH that leaves it out keeps it; one that only renames keeps everything.
    for body in ({"options": options}, {"name": "renamed"}):
        response = await client.patch(path, json=body, headers=ADMIN)
        assert response.status == 200, await response.text()
    [config] = await stored_configs(settings)
    assert config.options["signature_secret"] == "vonage-signing-2c"
    # A new base_url needs the credentials again, but not the signature secret: it goes nowhere.
    moved = {**options, "base_url": "https://rest.example.com"}
    response = await client.patch(path, json={"options": moved}, headers=ADMIN)
    assert response.status == 200, await response.text()
    [config] = await stored_configs(settings)
    assert config.options["signature_secret"] == "vonage-signing-2c"

    wrong = {**options, "signature_method": "sha384"}
    problem = await assert_problem(
        await client.patch(path, json={"options": wrong}, headers=ADMIN), 422
    )
    assert [error["loc"] for error in problem["errors"]] == [["options", "signature_method"]]
