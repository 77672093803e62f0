"""Portals from CONFIRMHUB_BITRIX24_APPLICATION_TOKENS follow the configuration on restart."""

from __future__ import annotations

from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from pydantic import SecretStr

from confirmhub.broker import BITRIX24_QUEUE
from tests.conftest import PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID
from tests.helpers import take_all
from tests.receiver.test_mcn_webhook import assert_problem
from tests.test_method_confirmation_flow import ADMIN, form, method_confirm_fields, post_event

REMOVED = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ADDED_BY_API = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


def _event(member_id: str, token: str) -> bytes:
    return form(
        **method_confirm_fields(**{"auth[member_id]": member_id, "auth[application_token]": token})
    )


async def test_a_portal_removed_from_the_configuration_is_revoked_on_restart(
    make_client: Any,
    settings: Any,
    channel: AbstractChannel,
) -> None:
    both = {
        PORTAL_MEMBER_ID: SecretStr(PORTAL_APPLICATION_TOKEN),
        REMOVED: SecretStr("removed-portal-token"),
    }
    before = await make_client(settings.model_copy(update={"bitrix24_application_tokens": both}))
    added = await before.put(
        f"/api/v1/bitrix24/portals/{ADDED_BY_API}",
        json={"application_token": "api-portal-token"},
        headers=ADMIN,
    )
    assert added.status in (200, 201)
    assert (await post_event(before, _event(REMOVED, "removed-portal-token"))).status == 202
    await before.close()

    # Restarted with the second portal taken out of the configuration.
    after = await make_client(settings)
    await assert_problem(await post_event(after, _event(REMOVED, "removed-portal-token")), 401)
    event = _event(PORTAL_MEMBER_ID, PORTAL_APPLICATION_TOKEN)
    assert (await post_event(after, event)).status == 202
    # A portal added through the API is not the configuration's to remove.
    assert (await post_event(after, _event(ADDED_BY_API, "api-portal-token"))).status == 202
    assert len(await take_all(channel, BITRIX24_QUEUE)) == 3


async def test_with_no_portal_configured_every_configured_portal_is_revoked(
    make_client: Any,
    settings: Any,
) -> None:
    await (await make_client(settings)).close()
    after = await make_client(settings.model_copy(update={"bitrix24_application_tokens": {}}))
    event = _event(PORTAL_MEMBER_ID, PORTAL_APPLICATION_TOKEN)
    await assert_problem(await post_event(after, event), 401)
