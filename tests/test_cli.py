"""The command line, run as a user runs it: a subprocess with only environment variables."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import LOG_SCAN, SECRETS_KEY

CLI = [sys.executable, "-m", "service.cli"]
# Every secret set: nothing is generated or reported missing, so a failure is all there is.
CONFIGURED = {
    "CONFIRMHUB_ADMIN_TOKEN": "cli-admin-token",
    "CONFIRMHUB_MCN_WEBHOOK_SECRET": "cli-webhook-secret",
    "CONFIRMHUB_SECRETS_KEY": SECRETS_KEY,
}


TRY_IT_SECRET = "try-it-secret"
# What the commands below are given: none may appear in what they print.
LOG_SCAN.secrets.update(
    {*CONFIGURED.values(), "adm-secret-1", "amqp-secret-2", "app-secret-3", TRY_IT_SECRET}
)


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command; its stdout and stderr go through the session's secret scan."""
    result = subprocess.run(
        [*CLI, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
    LOG_SCAN.scan(result.stdout + result.stderr)
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    "command",
    [
        "run",
        "receiver",
        "worker",
        "migrate",
        "config",
        "dlq",
        "status",
        "send-test-webhook",
        "tail-events",
        "api-keys",
        "secrets",
    ],
)
def test_every_command_has_help(command: str) -> None:
    result = run_cli(command, "--help", env={})
    assert result.returncode == 0
    assert "usage: confirmhub" in result.stdout


def test_migrate_creates_a_current_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = run_cli("migrate", env={"CONFIRMHUB_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "is current" in result.stdout
    assert run_cli("migrate", env={"CONFIRMHUB_DATABASE_URL": url}).returncode == 0


def test_missing_broker_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **CONFIGURED,
        "CONFIRMHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "CONFIRMHUB_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
    }
    assert run_cli("migrate", env=env).returncode == 0
    result = run_cli("worker", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach RabbitMQ" in lines[0]
    assert "guest:guest" not in lines[0], "the password is masked"


def test_missing_database_is_one_clear_line(amqp_url: str) -> None:
    env = {
        **CONFIGURED,
        "CONFIRMHUB_DATABASE_URL": f"postgresql+asyncpg://nobody:pw@127.0.0.1:{free_port()}/x",
        "CONFIRMHUB_AMQP_URL": amqp_url,
    }
    result = run_cli("receiver", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach the database" in lines[0]
    assert ":pw@" not in lines[0]


def test_unmigrated_database_says_to_migrate(tmp_path: Path, amqp_url: str) -> None:
    env = {
        "CONFIRMHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
        "CONFIRMHUB_AMQP_URL": amqp_url,
    }
    result = run_cli("worker", env=env)
    assert result.returncode == 1
    assert "confirmhub migrate" in result.stderr


def test_config_masks_secrets() -> None:
    env = {
        "CONFIRMHUB_ADMIN_TOKEN": "adm-secret-1",
        "CONFIRMHUB_AMQP_URL": "amqp://u:amqp-secret-2@h:5672/",
        "CONFIRMHUB_BITRIX24_APPLICATION_TOKENS": '{"m1": "app-secret-3"}',
    }
    result = run_cli("config", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    for secret in ("adm-secret-1", "amqp-secret-2", "app-secret-3"):
        assert secret not in result.stdout
    assert shown["bitrix24_application_tokens"] == {"m1": "**********"}


def test_run_serves_tries_out_and_stops_on_sigterm(tmp_path: Path, amqp_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CONFIRMHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "CONFIRMHUB_AMQP_URL": amqp_url,
        "CONFIRMHUB_PORT": str(port),
        "CONFIRMHUB_MCN_WEBHOOK_SECRET": TRY_IT_SECRET,
    }
    process = subprocess.Popen(
        [*CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ready"
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "run did not become ready"
                time.sleep(0.2)
        watcher = subprocess.Popen(
            [*CLI, "tail-events", "--count", "1", "--timeout", "30"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert watcher.stderr is not None
        assert "listening on confirmhub.events" in watcher.stderr.readline()
        sent = run_cli("send-test-webhook", "--outcome", "no_answer", env=env)
        assert sent.returncode == 0, sent.stderr
        answer = json.loads(sent.stdout)
        assert answer["status"] == 202
        call = answer["verification_call_uuid"]
        deadline = time.monotonic() + 20
        while (status := run_cli("status", call, env=env)).returncode != 0:
            assert "no password call" in status.stderr
            assert time.monotonic() < deadline, "the test webhook was never processed"
            time.sleep(0.3)
        shown = json.loads(status.stdout)
        assert (shown["status"], shown["outcome"]) == ("completed", "no_answer")
        printed, _ = watcher.communicate(timeout=30)
        event = json.loads(printed)
        assert event["type"] == "password_call.no_answer"
        assert event["data"]["verification_call_uuid"] == call
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    LOG_SCAN.scan(stderr)
    assert process.returncode == 0, stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    names = [line["event"] for line in logged]
    assert {"worker.started", "worker.stopped", "http.listening"} <= set(names)
