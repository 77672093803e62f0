"""The first minute on a fresh checkout: no CONFIRMHUB_* secret set, and every flow works.

The service runs as a user runs it, ``confirmhub run`` in a directory of its own with the
default database URL, and is used with the credentials it generated.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dotenv import dotenv_values
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from service.credentials import GENERATED, ensure_credentials, load_settings
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, fixture_bytes
from tests.receiver.b2core_examples import CREATE_PROVIDER, CREATE_TEMPLATE
from tests.sms_fakes import FakeTwilio
from tests.sms_support import serve
from tests.test_cli import CLI, free_port

CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NAMES = set(GENERATED)


class Service:
    """A ``confirmhub`` process, its output kept in files so that it never blocks on a pipe."""

    def __init__(self, command: str, *, cwd: Path, env: dict[str, str], name: str) -> None:
        self.stdout = cwd / f"{name}.out"
        self.stderr = cwd / f"{name}.err"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [*CLI, command], cwd=cwd, env=env, stdout=out, stderr=err
            )
        self.base_url = f"http://127.0.0.1:{env['CONFIRMHUB_PORT']}"

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.process.poll() is None, self.stderr.read_text()
                assert time.monotonic() < deadline, "not ready in time"
                try:
                    async with session.get(f"{self.base_url}/readyz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    async def stop(self) -> str:
        """SIGTERM, wait, and everything it wrote to the terminal."""
        self.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(self.process.wait, 30) == 0, self.stderr.read_text()
        return self.stdout.read_text() + self.stderr.read_text()


@pytest.fixture
def started() -> Iterator[Callable[[Service], Service]]:
    """Keeps each service started by the test, and kills any still running at the end."""
    services: list[Service] = []

    def start(service: Service) -> Service:
        services.append(service)
        return service

    yield start
    for service in services:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(30)


def fresh_environment(amqp_url: str, **extra: str) -> dict[str, str]:
    """The machine's environment with no CONFIRMHUB_* variable but a broker and a port."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFIRMHUB_")}
    return {**env, "CONFIRMHUB_AMQP_URL": amqp_url, "CONFIRMHUB_PORT": str(free_port()), **extra}


async def request(
    method: str, url: str, *, token: str, json_body: Any = None, data: bytes | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", **({} if data is None else CURL_FORM)}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=json_body, data=data, headers=headers) as answer,
    ):
        return answer.status, await answer.json() if answer.status != 204 else None


async def next_event(events: EventTap, routing_key: str) -> dict[str, Any]:
    """The next event with ``routing_key``, skipping others."""
    while True:
        message = await events.next(timeout=20)
        if message.routing_key == routing_key:
            return body_of(message)


async def test_a_fresh_checkout_generates_credentials_serves_every_flow_and_reuses_them(
    tmp_path: Path,
    amqp_url: str,
    started: Callable[[Service], Service],
    events: EventTap,
    fake_mcn: FakeMcn,
    aiohttp_server: AiohttpServer,
) -> None:
    # MCN's API is faked: where it is, and the token it takes, are the only variables set.
    env = fresh_environment(
        amqp_url, CONFIRMHUB_MCN_API_URL=fake_mcn.url, CONFIRMHUB_MCN_API_TOKEN="mcn-api-token"
    )
    first = started(Service("run", cwd=tmp_path, env=env, name="first"))
    await first.ready()
    credentials = tmp_path / "confirmhub.credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    values = dotenv_values(credentials)
    assert set(values) == NAMES
    admin = str(values["CONFIRMHUB_ADMIN_TOKEN"])
    base = first.base_url

    # The B2Core seed's own curl requests (--data sends a form content type), as they are.
    providers = f"{base}/api/v2/confirmations/providers"
    for url, body in (
        (providers, CREATE_PROVIDER),
        (f"{base}/api/v2/confirmations/templates", CREATE_TEMPLATE),
    ):
        status, answer = await request("POST", url, token=admin, data=body.encode())
        assert status == 201, answer
    status, _ = await request("DELETE", f"{providers}/1", token=admin)
    assert status == 204  # so that no SMS below could go to the real Twilio
    # MCN posts a CDR with the generated webhook secret: accepted, and its event published.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/webhooks/mcn/password-call",
            data=fixture_bytes("mcn_cdr_busy.json"),
            headers={
                "Authorization": f"Bearer {values['CONFIRMHUB_MCN_WEBHOOK_SECRET']}",
                "Content-Type": "application/json",
            },
        ) as answer,
    ):
        assert answer.status == 202
    busy = await next_event(events, "password_call.busy")
    assert busy["data"]["verification_call_uuid"] == "fa278be48dc3_117793"
    # A provider whose secret is stored encrypted under the generated key.
    twilio = await serve(aiohttp_server, FakeTwilio())
    options = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in twilio.sender_options().items()
    }
    provider = {"name": "twilio", "provider": "Twilio", "isEnabled": True, "options": options}
    status, _ = await request(
        "POST", f"{base}/api/v2/confirmations/providers", token=admin, json_body=provider
    )
    assert status == 201
    terminal = [await first.stop()]
    notice = terminal[0].split("\n{", 1)[0]
    assert str(credentials) in notice, "the first start says where the file is"
    assert "set -a;" in notice, "and how to use it"
    written = credentials.read_bytes()

    second = started(Service("run", cwd=tmp_path, env=env, name="second"))
    await second.ready()
    assert credentials.read_bytes() == written, "a later start reuses the file"
    # The stored provider secret and the code kept for the SMS fallback still decrypt.
    fake_mcn.next_uuid = "f1257a000001_117793"
    call = {"phone_number": "421222202004", "verification_code": "4821"}
    status, _ = await request("POST", f"{base}/api/v1/password-calls", token=admin, json_body=call)
    assert status == 201
    cdr = {
        "verification_call_uuid": fake_mcn.next_uuid,
        "q931_status": 17,
        "final_status": "CANCEL",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/webhooks/mcn/password-call?token={values['CONFIRMHUB_MCN_WEBHOOK_SECRET']}",
            json=cdr,
        ) as answer,
    ):
        assert answer.status == 202
    sent = await next_event(events, "password_call.sms_sent")
    assert sent["data"]["provider"] == "twilio"
    assert [r.fields["Body"] for r in twilio.requests] == ["The verification code is 4821"]
    terminal.append(await second.stop())
    assert "generated" not in terminal[1]

    for output in terminal:
        for name, value in values.items():
            assert str(value) not in output, f"{name} reached the terminal"


async def test_postgresql_generates_nothing_and_names_each_missing_secret(
    tmp_path: Path, amqp_url: str, postgres_url: str, started: Callable[[Service], Service]
) -> None:
    env = fresh_environment(amqp_url, CONFIRMHUB_DATABASE_URL=postgres_url)
    service = started(Service("receiver", cwd=tmp_path, env=env, name="receiver"))
    await service.ready()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{service.base_url}/api/v1/api-keys") as answer:
            assert answer.status == 401
        async with session.post(
            f"{service.base_url}/webhooks/mcn/password-call", json={}
        ) as answer:
            assert answer.status == 401
    output = await service.stop()
    missing = {
        line["variable"]
        for line in map(json.loads, filter(None, output.splitlines()))
        if line["event"] == "credentials.missing"
    }
    assert missing == NAMES
    assert not (tmp_path / "confirmhub.credentials").exists()


@pytest.fixture
def sqlite_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment with no CONFIRMHUB_* variable but a SQLite file in ``tmp_path``."""
    for key in os.environ:
        if key.startswith("CONFIRMHUB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONFIRMHUB_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/data/state.db")
    (tmp_path / "data").mkdir()
    return tmp_path / "data" / "confirmhub.credentials"


def test_the_environment_wins_and_only_what_is_missing_is_generated(
    sqlite_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIRMHUB_ADMIN_TOKEN", "admin-from-the-environment")
    told = io.StringIO()
    settings = ensure_credentials(load_settings(), stream=told)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "admin-from-the-environment"
    assert set(dotenv_values(sqlite_environment)) == NAMES - {"CONFIRMHUB_ADMIN_TOKEN"}
    assert str(sqlite_environment) in told.getvalue()

    # The variable goes away: only it is generated, the others are read back as they were.
    monkeypatch.delenv("CONFIRMHUB_ADMIN_TOKEN")
    before = dotenv_values(sqlite_environment)
    told = io.StringIO()
    settings = ensure_credentials(load_settings(), stream=told)
    after = dotenv_values(sqlite_environment)
    assert set(after) == NAMES
    assert {name: after[name] for name in before} == before
    assert "CONFIRMHUB_ADMIN_TOKEN into" in told.getvalue()
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == after["CONFIRMHUB_ADMIN_TOKEN"]

    # Set again, the environment wins over the file; nothing more is written or said.
    monkeypatch.setenv("CONFIRMHUB_MCN_WEBHOOK_SECRET", "webhook-from-the-environment")
    told = io.StringIO()
    settings = ensure_credentials(load_settings(), stream=told)
    assert told.getvalue() == ""
    assert dotenv_values(sqlite_environment) == after
    assert settings.mcn_webhook_secret is not None
    assert settings.mcn_webhook_secret.get_secret_value() == "webhook-from-the-environment"
    for value in after.values():
        assert str(value) not in told.getvalue()
