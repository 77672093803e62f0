"""The HTTP servers under test, each in its own process: confirmhub's receiver and two baselines."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal

import orjson

from bench.baselines import naive
from bench.lab import Lab, Process, confirmhub_env, free_port, wait_until_ready
from bench.payloads import MCN_SECRET, PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID
from confirmhub.broker import WORKER_QUEUES

ServerName = Literal["confirmhub", "naive", "no-op"]
SERVER_NAMES: tuple[ServerName, ...] = ("confirmhub", "naive", "no-op")
# Every queue a receiver under test publishes to, purged between runs.
RECEIVER_QUEUES = (*WORKER_QUEUES, *naive.QUEUES)
PORTALS = {PORTAL_MEMBER_ID: PORTAL_APPLICATION_TOKEN}


@dataclass(frozen=True, slots=True)
class Server:
    """A server listening on 127.0.0.1."""

    name: ServerName
    process: Process
    port: int

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"


def receiver_env(*, amqp_url: str, database_url: str, port: int) -> dict[str, str]:
    """Settings of a confirmhub receiver as production runs it (logging at info)."""
    return confirmhub_env(
        amqp_url=amqp_url,
        database_url=database_url,
        host="127.0.0.1",
        port=str(port),
        mcn_webhook_secret=MCN_SECRET,
        bitrix24_application_tokens=orjson.dumps(PORTALS).decode(),
    )


async def start_confirmhub(
    lab: Lab, *, amqp_url: str, database_url: str | None = None, label: str = "receiver"
) -> Server:
    """``confirmhub receiver`` on a migrated database (a new SQLite file unless given)."""
    port = free_port()
    database_url = database_url or f"sqlite+aiosqlite:///{lab.tmp / f'{label}.db'}"
    env = receiver_env(amqp_url=amqp_url, database_url=database_url, port=port)
    lab.migrate(env)
    process = lab.confirmhub(label, "receiver", env)
    await wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
    return Server("confirmhub", process, port)


async def start_baseline(lab: Lab, name: ServerName, *, amqp_url: str, loop: str) -> Server:
    """Baseline (a) ``no-op`` or (b) ``naive``."""
    port = free_port()
    argv = [sys.executable, "-m", f"bench.baselines.{'noop' if name == 'no-op' else name}"]
    argv += [f"--port={port}", f"--loop={loop}"]
    if name == "naive":
        argv += [
            f"--amqp-url={amqp_url}",
            f"--secret={MCN_SECRET}",
            f"--portals={json.dumps(PORTALS)}",
        ]
    process = lab.spawn(name, argv, confirmhub_env())
    await wait_until_ready(f"http://127.0.0.1:{port}/healthz", process)
    return Server(name, process, port)


async def start_server(lab: Lab, name: ServerName, *, amqp_url: str, loop: str) -> Server:
    """Start the named server and wait until it is ready."""
    if name == "confirmhub":
        return await start_confirmhub(lab, amqp_url=amqp_url)
    return await start_baseline(lab, name, amqp_url=amqp_url, loop=loop)
