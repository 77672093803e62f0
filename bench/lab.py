"""Everything a bench run starts on loopback, and the promise to take all of it down again.

A :class:`Lab` owns one temporary directory, the RabbitMQ vhosts and PostgreSQL databases it
creates, and the processes it spawns; leaving its ``async with`` block — normally, on an
error or on Ctrl-C — stops the processes and removes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp
import asyncpg

CONFIRMHUB = (sys.executable, "-m", "service.cli")
# Processes run from the repository root, where ``bench`` is importable.
REPO = Path(__file__).resolve().parents[1]
_PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """A bench run cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    """One line of progress on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Services:
    """Where the shared services answer."""

    amqp_base: str
    postgres_admin_url: str


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory of a process, in MiB: now and its high-water mark."""

    rss_mib: float
    peak_mib: float


def _die_with_parent() -> None:
    # Runs in the child before exec: a bench killed with SIGKILL takes its servers along.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """A process the bench started, with its log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def running(self) -> bool:
        """Whether the process has not exited."""
        return self.popen.poll() is None

    def memory(self) -> Memory:
        """VmRSS and VmHWM from ``/proc/<pid>/status``."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                fields[key] = int(value.split()[0]) / 1024
        return Memory(rss_mib=fields["VmRSS"], peak_mib=fields["VmHWM"])

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the process's output."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _rabbitmqctl(*args: str) -> None:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise BenchError("rabbitmqctl not found: the bench needs a local RabbitMQ (make services)")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [executable, *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


def _remove_vhost(name: str) -> None:
    # Cleanup must not stop at one failure: a broker briefly restarting gets three tries.
    for attempt in range(3):
        try:
            _rabbitmqctl("delete_vhost", name)
        except BenchError as exc:
            if attempt == 2:
                say(f"warning: {exc}; remove it with `rabbitmqctl delete_vhost {name}`")
            else:
                time.sleep(5)
        else:
            return


class Lab:
    """Temporary resources of one bench run; all removed when the block exits."""

    def __init__(self, services: Services, *, keep_logs: Path | None = None) -> None:
        self.services = services
        self.run_id = uuid.uuid4().hex[:8]
        self._keep_logs = keep_logs
        self._stack = contextlib.AsyncExitStack()
        self._processes: list[Process] = []
        self.tmp = Path()

    async def __aenter__(self) -> Lab:
        await self._stack.__aenter__()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"confirmhub-bench-{self.run_id}-"))
        self._stack.callback(self._remove_tmp)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for process in self._processes:
            process.stop()
        await self._stack.__aexit__(exc_type, exc, traceback)

    def _remove_tmp(self) -> None:
        if self._keep_logs is not None:
            self._keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.tmp.glob("*.log"):
                shutil.copy2(log, self._keep_logs / log.name)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def vhost(self, purpose: str) -> str:
        """A fresh RabbitMQ vhost, deleted on exit; its AMQP URL."""
        name = f"confirmhub-bench-{self.run_id}-{purpose}"
        _rabbitmqctl("add_vhost", name)
        self._stack.callback(_remove_vhost, name)
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return f"{self.services.amqp_base}/{name}"

    async def database(self, purpose: str) -> str:
        """A fresh PostgreSQL database, dropped on exit; its SQLAlchemy URL."""
        name = f"confirmhub_bench_{self.run_id}_{purpose}"
        await self.admin_sql(f'CREATE DATABASE "{name}"')
        self._stack.push_async_callback(self._drop_database, name)
        base = self.services.postgres_admin_url.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"

    async def _drop_database(self, name: str) -> None:
        try:
            await self.admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (OSError, asyncpg.PostgresError) as exc:
            say(f"warning: could not drop database {name} ({exc}); drop it by hand")

    async def admin_sql(self, statement: str) -> None:
        """Run one statement on the PostgreSQL maintenance database."""
        connection = await asyncpg.connect(self.services.postgres_admin_url, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        """Start a process with its output in ``<tmp>/<name>.log``; stopped on exit."""
        log_path = self.tmp / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                argv,
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # spawned from the main thread only
            )
        process = Process(name, popen, log_path)
        self._processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        """Stop one process now rather than on exit."""
        process.stop()
        if process in self._processes:
            self._processes.remove(process)

    def confirmhub(self, name: str, command: str, env: dict[str, str]) -> Process:
        """Start ``confirmhub COMMAND``."""
        return self.spawn(name, [*CONFIRMHUB, command], env)

    def migrate(self, env: dict[str, str]) -> None:
        """Run ``confirmhub migrate`` to completion."""
        result = subprocess.run(  # noqa: S603 - our own interpreter and modules
            [*CONFIRMHUB, "migrate"], env=env, capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0:
            raise BenchError(f"confirmhub migrate failed: {result.stderr.strip()[-2000:]}")


def confirmhub_env(**settings: str) -> dict[str, str]:
    """The environment for a confirmhub process: ours, minus any CONFIRMHUB_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIRMHUB_")}
    env.update({f"CONFIRMHUB_{name.upper()}": value for name, value in settings.items()})
    return env


async def wait_until_ready(url: str, process: Process, *, within: float = 60) -> None:
    """Poll ``url`` until it answers 200; BenchError with the log if the process dies."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if not process.running():
                raise BenchError(f"{process.name} exited early:\n{process.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise BenchError(f"{process.name} not ready at {url} in {within:.0f}s:\n{process.log_tail()}")
