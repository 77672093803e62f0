"""Fault injection on the real services: worker processes and PostgreSQL outages (RabbitMQ's
are on private nodes: tests/cluster.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from confirmhub.settings import Settings

CLI = [sys.executable, "-m", "service.cli"]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess these settings."""
    env = {**os.environ}
    for name, value in settings.model_dump(mode="json").items():
        raw = getattr(settings, name)
        if raw is None:
            continue
        if hasattr(raw, "get_secret_value"):
            value = raw.get_secret_value()
        elif name == "bitrix24_application_tokens":
            value = {key: token.get_secret_value() for key, token in raw.items()}
        env[f"CONFIRMHUB_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def spawn(settings: Settings, *args: str, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``confirmhub ARGS`` with these settings, its log in ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*CLI, *args], env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT
        )


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``confirmhub ARGS`` to completion."""
    return subprocess.run(
        [*CLI, *args], env=settings_env(settings), capture_output=True, text=True, timeout=120
    )


def stop(
    process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30
) -> int:
    """Signal a process and wait for it; its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=timeout)


def _cluster_version() -> str:
    return sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]


def _pg_ctl(action: str) -> None:
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster_version(), "main", action]
    if action == "stop":
        command += ["-m", "fast"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    """PostgreSQL down for the block; always started again."""
    _pg_ctl("stop")
    try:
        yield
    finally:
        _pg_ctl("start")
        _wait_for_port(5432)


def _wait_for_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
