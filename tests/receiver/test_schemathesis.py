"""Schemathesis against the live app: every operation, fuzzed from the schema the app serves.

Each operation gets a bounded number of generated requests, valid and invalid, sent with the
right credentials over real HTTP. Every answer must be a documented status with the
documented content type, body schema and headers, and never a 5xx. The run sends to the
loopback test server only and stops by itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from confirmhub.redact import sha256_hex
from receiver.docs.openapi import ROUTES
from tests.conftest import (
    ADMIN_TOKEN,
    PORTAL_APPLICATION_TOKEN,
    PORTAL_MEMBER_ID,
    WEBHOOK_SECRET,
)
from tests.fakes import FakeMcn

EXAMPLES_PER_MODE = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CREDENTIALS = {
    "apiKey": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    "mcnBearer": {"Authorization": f"Bearer {WEBHOOK_SECRET}"},
}
# Resources the seed creates, so that generated requests also reach existing ones.
KNOWN_CALL = FakeMcn.next_uuid
KNOWN_TOKEN = "seeded-access-token"
KNOWN = {
    "verification_call_uuid": KNOWN_CALL,
    "member_id": PORTAL_MEMBER_ID,
    "providerId": 1,
    "provider_id": 1,
    "templateId": 1,
    "method": "voximplant.user.get",
    "token_sha256": sha256_hex(KNOWN_TOKEN),
}


async def seed(client: TestClient) -> dict[str, Any]:  # type: ignore[type-arg]
    """A password call, a method confirmation, a provider, a template and an API key to aim
    at; the path parameters that name them."""
    admin = CREDENTIALS["apiKey"]
    bodies = [
        ("/api/v1/password-calls", {"phone_number": "421222202004", "verification_code": "1234"}),
        (
            "/api/v1/method-confirmations",
            {"member_id": PORTAL_MEMBER_ID, "token": KNOWN_TOKEN, "method": KNOWN["method"]},
        ),
        (
            "/api/v2/confirmations/providers",
            {
                "name": "twilio",
                "provider": "Twilio",
                "options": {"api_sid": "AC1", "api_secret": "s3cret", "from": "+15005550006"},
            },
        ),
        (
            "/api/v2/confirmations/templates",
            {"name": "default", "template": "The verification code is %CODE%"},
        ),
    ]
    for path, body in bodies:
        method = client.put if path.endswith("method-confirmations") else client.post
        response = await method(path, json=body, headers=admin)
        assert response.status in {200, 201}, await response.text()
    key = await client.post(
        "/api/v1/api-keys", json={"name": "seed", "scopes": ["calls"]}, headers=admin
    )
    assert key.status == 201, await key.text()
    return {**KNOWN, "id": (await key.json())["id"]}


def with_known_portal(case: schemathesis.Case[Any]) -> None:
    """Give a generated Bitrix24 event the registered portal's credentials."""
    auth = case.body.get("auth") if isinstance(case.body, dict) else None
    if isinstance(auth, dict):
        auth["member_id"] = PORTAL_MEMBER_ID
        auth["application_token"] = PORTAL_APPLICATION_TOKEN


def run_cases(
    strategy: st.SearchStrategy[schemathesis.Case[Any]],
    *,
    base_url: str,
    headers: dict[str, str],
    authentic_portal: bool,
) -> None:
    """Send each generated case and validate its response; raise on the first failure."""
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        if authentic_portal:
            with_known_portal(case)
        case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS)

    try:
        run()
    finally:
        session.close()


def fuzz(
    document: dict[str, Any], method: str, path: str, base_url: str, seeded: dict[str, Any]
) -> list[str]:
    """Run generated cases against one operation; the failures, described."""
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    operation = schema[path][method.upper()]
    spec = document["paths"][path][method]
    # A scheme without fixed credentials (a request signature) gets none: its cases are refused.
    headers = next(
        (CREDENTIALS[name] for req in spec["security"] for name in req if name in CREDENTIALS), {}
    )
    known = {name: value for name, value in seeded.items() if f"{{{name}}}" in path}
    # Without parameters or a body there is nothing to make invalid.
    takes_input = "parameters" in spec or "requestBody" in spec
    modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if takes_input else [])]
    failures: list[str] = []
    for mode in modes:
        strategy = operation.as_strategy(generation_mode=mode)
        if known:
            strategy = st.one_of(
                strategy, operation.as_strategy(generation_mode=mode, path_parameters=known)
            )
        try:
            run_cases(
                strategy,
                base_url=base_url,
                headers=headers,
                # Valid events get past authentication too; invalid ones keep what they have.
                authentic_portal=mode is GenerationMode.POSITIVE and path == "/webhooks/bitrix24",
            )
        except (Exception, FailureGroup) as exc:
            failures.append(f"{mode.value} {method.upper()} {path}:\n{exc}")
    return failures


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends: PostgreSQL refuses values (NUL characters) that SQLite stores."""
    return str(request.param)


@pytest.mark.parametrize(
    ("method", "path"),
    [(operation.method, operation.path) for operation in ROUTES],
    ids=[operation.operation_id for operation in ROUTES],
)
async def test_operation_keeps_its_documented_contract(
    client: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
) -> None:
    served = await client.get("/api/openapi.json")
    document = await served.json()
    seeded = await seed(client)
    base_url = str(client.make_url("")).rstrip("/")
    # requests is synchronous: it runs in a thread while this loop serves the app.
    failures = await asyncio.to_thread(fuzz, document, method, path, base_url, seeded)
    assert not failures, "\n\n".join(failures)
