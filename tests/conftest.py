"""Fixtures on the real things: RabbitMQ, SQLite, PostgreSQL and the HTTP stack."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, cast

import aio_pika
import aiohttp
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient, AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import DEAD_LETTER_QUEUE, WORKER_QUEUES, declare_topology
from confirmhub.broker_connection import BrokerConnection, broker_nodes
from confirmhub.db.engine import create_engine
from confirmhub.db.migrate import upgrade_to_head
from confirmhub.db.tables import metadata
from confirmhub.logs import configure_logging
from confirmhub.settings import Settings
from receiver.app import create_app
from tests import services
from tests.cluster import RabbitCluster
from tests.fakes import FakeMcn
from tests.helpers import EventTap
from tests.postgres_pair import PostgresPair, running_pair
from tests.session_checks import observed, problems
from tests.sms_fakes import (
    SMSAERO_API_KEY,
    TWILIO_AUTH_TOKEN,
    VONAGE_API_SECRET,
    VONAGE_SIGNATURE_SECRET,
    FakeProvider,
    FakeSmsAero,
    FakeTwilio,
    FakeVonage,
)
from worker.app import running_worker

ADMIN_TOKEN = "test-admin-token-7f3a"
WEBHOOK_SECRET = "test-mcn-webhook-secret-91c2"
MCN_API_TOKEN = "test-mcn-api-token-4be8"
# The portal of shared/fixtures/bitrix24_*.form.
PORTAL_MEMBER_ID = "74ef8a46a75104de55d5d4a61b98ab6d"
PORTAL_APPLICATION_TOKEN = "c289487163b58658eae5e8b42eaf11b8"
RETRY_DELAYS = (0.2, 0.5)
SECRETS_KEY = "r1Yi0Fi3a4opQ-9Dm-L4KF7a-L94P_Mft5dEjEDFJp0="
# The key rotated to in tests/test_secrets_rotation.py.
NEXT_SECRETS_KEY = "bI0ZQdFWWk2a1N0jkZ3AOLc0xyfVcm_2bTQ3ExdHQ4U="


class LogScan:
    """Every log line of the session, checked against every secret the tests hand out."""

    def __init__(self) -> None:
        self.lines = 0
        self.leaks: list[str] = []
        self.secrets: set[str] = set()

    def scan(self, text: str) -> None:
        """Count the lines in ``text`` and keep any that holds a secret."""
        for line in text.splitlines():
            self.lines += 1
            if any(secret in line for secret in self.secrets):
                self.leaks.append(line[:300])


LOG_SCAN = LogScan()
# Raw tokens from the Bitrix24 fixtures: data[TOKEN], and ONAPPINSTALL's OAuth tokens.
FIXTURE_TOKENS = (
    "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6",
    "s6p6eclrvim6da22ft9ch94ekreb52lv",
    "4s386p3q0tr8dy89xvmt96234v3dljg8",
)
LOG_SCAN.secrets.update(
    {
        ADMIN_TOKEN,
        WEBHOOK_SECRET,
        MCN_API_TOKEN,
        PORTAL_APPLICATION_TOKEN,
        SECRETS_KEY,
        NEXT_SECRETS_KEY,
        TWILIO_AUTH_TOKEN,
        VONAGE_API_SECRET,
        VONAGE_SIGNATURE_SECRET,
        SMSAERO_API_KEY,
        *FIXTURE_TOKENS,
    }
)


class _CurrentStderr(io.TextIOBase):
    """Writes to whatever ``sys.stderr`` is now, so pytest's capfd sees every log line, and
    checks every line for secrets on the way (see tests/session_checks.py)."""

    def write(self, text: str) -> int:
        LOG_SCAN.scan(text)
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(log_format="json", level="info", stream=cast(TextIO, _CurrentStderr()))


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A private vhost on the real RabbitMQ for this session."""
    vhost = services.create_vhost()
    yield f"{services.AMQP_BASE}/{vhost}"
    services.delete_vhost(vhost)


@pytest.fixture(scope="session")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """A private 3-node RabbitMQ cluster on loopback, for the tests that break nodes."""
    cluster = RabbitCluster(size=3, base_dir=tmp_path_factory.mktemp("rabbitmq"))
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def rabbit_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """A private single RabbitMQ node on loopback, for the tests that restart the broker."""
    node = RabbitCluster(size=1, base_dir=tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.up()
        yield node
    finally:
        node.down()


@pytest.fixture(scope="session")
def postgres_pair() -> Iterator[PostgresPair]:
    """A private PostgreSQL primary with a streaming standby, migrated, for the failover test."""
    with running_pair() as pair:
        yield pair


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private, migrated database on the real PostgreSQL for this session."""
    # Requested lazily from async fixtures, so its own event loops run in a thread.
    name, url = services.off_loop(services.create_database)
    services.off_loop(upgrade_to_head, url)
    yield url
    services.off_loop(services.drop_database, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def backend() -> str:
    """The database backend; modules parametrize this to run on both."""
    return "sqlite"


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in metadata.sorted_tables)
            await connection.exec_driver_sql(f"TRUNCATE {names}")
    finally:
        await engine.dispose()


@pytest.fixture
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """An empty, migrated database of the chosen backend."""
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        await _truncate_all(url)
        return url
    path = tmp_path / "confirmhub.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty, migrated database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    """A test-side broker connection, with the topology declared and its queues emptied."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await declare_topology(channel, retry_delays=RETRY_DELAYS)
    for name in (*WORKER_QUEUES, DEAD_LETTER_QUEUE):
        queue = await channel.get_queue(name)
        await queue.purge()
    await channel.close()
    yield connection
    await connection.close()


@pytest.fixture
async def broker(amqp_url: str, amqp: AbstractRobustConnection) -> AsyncIterator[BrokerConnection]:
    """confirmhub's own broker connection, to the session's vhost (topology declared)."""
    broker = BrokerConnection(broker_nodes(amqp_url), name="confirmhub test")
    await broker.open()
    yield broker
    await broker.close()


@pytest.fixture
async def channel(amqp: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    """A channel for the test's own inspection of the broker."""
    channel = await amqp.channel()
    yield channel
    await channel.close()


@pytest.fixture
async def fake_mcn(aiohttp_server: AiohttpServer) -> FakeMcn:
    """MCN's password-call API as a real HTTP server on loopback."""
    fake = FakeMcn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url(""))
    return fake


@pytest.fixture
def settings(
    database_url: str, amqp_url: str, amqp: AbstractRobustConnection, fake_mcn: FakeMcn
) -> Settings:
    """Settings for the app under test: real broker and database, known secrets."""
    return Settings(
        amqp_url=SecretStr(amqp_url),
        database_url=SecretStr(database_url),
        admin_token=SecretStr(ADMIN_TOKEN),
        mcn_webhook_secret=SecretStr(WEBHOOK_SECRET),
        mcn_api_url=fake_mcn.url,
        mcn_api_token=SecretStr(MCN_API_TOKEN),
        bitrix24_application_tokens={PORTAL_MEMBER_ID: SecretStr(PORTAL_APPLICATION_TOKEN)},
        mcn_api_timeout=3.0,
        outbox_relay_interval=0.5,
        sms_resume_interval=0.3,
        worker_retry_delays=RETRY_DELAYS,
        worker_max_attempts=4,
        publish_confirm_timeout=3.0,
        secrets_key=SecretStr(SECRETS_KEY),
    )


@pytest.fixture
def make_client(
    aiohttp_client: AiohttpClient,
) -> Callable[[Settings], Awaitable[TestClient]]:  # type: ignore[type-arg]
    """Start the receiver app for given settings behind a real HTTP server."""

    async def make(settings: Settings) -> TestClient:  # type: ignore[type-arg]
        return await aiohttp_client(create_app(settings))

    return make


@pytest.fixture
async def client(
    make_client: Callable[[Settings], Awaitable[TestClient]],  # type: ignore[type-arg]
    settings: Settings,
) -> TestClient:  # type: ignore[type-arg]
    """The receiver app with the default test settings."""
    return await make_client(settings)


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[None]:
    """A worker running in the test's event loop."""
    async with running_worker(settings):
        yield


@pytest.fixture
async def events(channel: AbstractChannel) -> AsyncIterator[EventTap]:
    """A queue bound to ``confirmhub.events`` as a downstream consumer would bind one."""
    tap = await EventTap.bind(channel)
    yield tap
    await asyncio.shield(tap.close())


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for SMS adapters under test."""
    async with aiohttp.ClientSession() as session:
        yield session


async def _served(aiohttp_server: AiohttpServer, fake: FakeProvider) -> None:
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")


@pytest.fixture
async def twilio(aiohttp_server: AiohttpServer) -> FakeTwilio:
    """Twilio's Messages API on loopback."""
    fake = FakeTwilio()
    await _served(aiohttp_server, fake)
    return fake


@pytest.fixture
async def vonage(aiohttp_server: AiohttpServer) -> FakeVonage:
    """Vonage's SMS API on loopback."""
    fake = FakeVonage()
    await _served(aiohttp_server, fake)
    return fake


@pytest.fixture
async def smsaero(aiohttp_server: AiohttpServer) -> FakeSmsAero:
    """SMSAero's v2 API on loopback."""
    fake = FakeSmsAero()
    await _served(aiohttp_server, fake)
    return fake


@pytest.fixture
async def sms_events(channel: AbstractChannel) -> EventTap:
    """A downstream consumer of the SMS fallback's events."""
    return await EventTap.bind(channel, "password_call.sms_sent", "password_call.sms_failed")


# --- checks over the whole run (tests/session_checks.py) -------------------------------------

_WORKER_REPORTS: list[dict[str, Any]] = []
_SESSION_PROBLEMS = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--whole-suite",
        action="store_true",
        help="this run is the whole suite (or its parallel part): fail it unless the secret "
        "scan saw flows and every operational metric moved",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker ended: keep what it saw for the verdict."""
    report = getattr(node, "workeroutput", {}).get("confirmhub_session")
    if report is not None:
        _WORKER_REPORTS.append(json.loads(report))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Judge the run's log scan and metrics; a worker only reports them to the controller."""
    config = session.config
    mine = observed(LOG_SCAN.lines, LOG_SCAN.leaks)
    if hasattr(config, "workerinput"):
        config.workeroutput["confirmhub_session"] = json.dumps(mine)  # type: ignore[attr-defined]
        return
    if session.testscollected == 0:
        return
    found = problems([mine, *_WORKER_REPORTS], whole_suite=config.getoption("--whole-suite"))
    config.stash[_SESSION_PROBLEMS] = found
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Show the verdict of the run-wide checks."""
    found = config.stash.get(_SESSION_PROBLEMS, None)
    if found is None:
        return
    for problem in found:
        terminalreporter.write_line(f"RUN CHECK FAILED: {problem}", red=True, bold=True)
    if not found:
        terminalreporter.write_line("run checks: no secret in any log line; metrics moved")
