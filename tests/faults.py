"""Fault injection on the real services: worker processes and PostgreSQL outages (RabbitMQ's
are on private nodes: tests/cluster.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from confirmhub.settings import Settings
from tests.postgres_pair import PostgresPair

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


@contextlib.contextmanager
def postgres_stopped(pair: PostgresPair) -> Iterator[None]:
    """A private PostgreSQL (never the machine's, which other sessions share) down for the
    block; always started again."""
    pair.halt()
    try:
        yield
    finally:
        pair.start()
