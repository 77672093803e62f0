"""No secret in what an operator sees: the CLI's output and console-mode logs.

Every command here runs as a user runs it, and all it prints also goes through the
run-wide log scan (tests/session_checks.py) with the secrets it was given.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

from confirmhub.redact import redact_url, redact_urls
from tests import conftest
from tests.test_cli import free_port, run_cli

# Passwords as operators write them, not percent-encoded: "/", ":", "?", "#" (and "@",
# which the database URL's parser refuses: a settings error that must not quote it).
DB_PASSWORD = "db/se:cr?x#y"
# As CONFIRMHUB_AMQP_URL accepts them (its URL parser cuts the host at a "/").
AMQP_PASSWORDS = ("amqp@pw:one", "pw:two@x")
SETTINGS_SECRET = "mistyped-secrets-key-5e1f"
LOCAL_SECRET = "console-local-secret-a9d0"
MCN_URL_SECRET = "mcn-url-password-77c1"
conftest.LOG_SCAN.secrets.update(
    {DB_PASSWORD, *AMQP_PASSWORDS, SETTINGS_SECRET, LOCAL_SECRET, MCN_URL_SECRET}
)


def _scanned(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    conftest.LOG_SCAN.scan(output)
    return output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:pa/ss@db:5432/x", "postgresql+asyncpg://u:***@db:5432/x"),
        ("postgresql://u:p@ss:w@db/x?ssl=1", "postgresql://u:***@db/x?ssl=***"),
        ("amqp://u:p?w#x@h/", "amqp://u:***@h/"),
        ("sqlite+aiosqlite:///var/a@b.db", "sqlite+aiosqlite:///var/a@b.db"),
        ("amqp://h:5672/", "amqp://h:5672/"),
    ],
)
def test_redact_url_masks_passwords_written_as_they_come(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_every_url_of_a_list_is_masked_even_with_a_comma_in_a_password() -> None:
    urls = "amqp://u:a,b@h1:5672/v, amqp://u:c/d@h2/v,amqps://h3/v"
    assert redact_urls(urls) == "amqp://u:***@h1:5672/v,amqp://u:***@h2/v,amqps://h3/v"


def test_config_masks_passwords_with_any_character() -> None:
    env = {
        "CONFIRMHUB_DATABASE_URL": f"postgresql+asyncpg://u:{DB_PASSWORD}@db.example:5432/x",
        "CONFIRMHUB_MCN_API_URL": f"https://u:{MCN_URL_SECRET}@mcn.example/api?token=t",
        "CONFIRMHUB_AMQP_URL": ",".join(
            f"amqp://u:{password}@h{index}:5672/" for index, password in enumerate(AMQP_PASSWORDS)
        ),
    }
    result = run_cli("config", env=env)
    output = _scanned(result)
    for secret in (DB_PASSWORD, *AMQP_PASSWORDS, MCN_URL_SECRET, "se:cr", "amqp@pw", "two@x"):
        assert secret not in output
    shown = json.loads(result.stdout)
    assert shown["database_url"] == "postgresql+asyncpg://u:***@db.example:5432/x"
    assert shown["mcn_api_url"] == "https://u:***@mcn.example/api?token=***"
    assert shown["amqp_url"] == "amqp://u:***@h0:5672/,amqp://u:***@h1:5672/"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://u:{DB_PASSWORD}@127.0.0.1:{free_port()}/x",
        f"nosuchdriver://u:{DB_PASSWORD}@127.0.0.1/x",
    ],
    # Named, not shown: a free port differs between the processes collecting the suite.
    ids=["nothing-listens", "unknown-driver"],
)
def test_migrate_errors_mask_the_password(url: str) -> None:
    result = run_cli("migrate", env={"CONFIRMHUB_DATABASE_URL": url})
    output = _scanned(result)
    assert result.returncode == 1
    assert "cannot migrate the database" in output
    for part in (DB_PASSWORD, "se:cr", "db/se"):
        assert part not in output


@pytest.mark.parametrize(
    "env",
    [
        {"CONFIRMHUB_SECRETS_KEY": SETTINGS_SECRET},
        {"CONFIRMHUB_BITRIX24_APPLICATION_TOKENS": f'{{"m1": "{SETTINGS_SECRET}"'},
        {"CONFIRMHUB_BITRIX24_APPLICATION_TOKENS": f'["{SETTINGS_SECRET}"]'},
        {"CONFIRMHUB_AMQP_URL": f"amqp://u:{SETTINGS_SECRET}@"},
        {"CONFIRMHUB_DATABASE_URL": f"postgresql://u:{SETTINGS_SECRET}@x:1@db:5432/x"},
        {"CONFIRMHUB_DATABASE_URL": f"postgresql://u:p@db:{SETTINGS_SECRET}/x"},
        {"CONFIRMHUB_DATABASE_URL": "sqlite://", "CONFIRMHUB_LOG_FORMAT": SETTINGS_SECRET},
    ],
)
def test_settings_errors_name_the_variable_never_its_value(env: dict[str, str]) -> None:
    result = run_cli("config", env=env)
    output = _scanned(result)
    assert result.returncode == 2, output
    assert output.startswith("confirmhub: invalid configuration: CONFIRMHUB_"), output
    assert len(output.strip().splitlines()) == 1, output
    assert SETTINGS_SECRET not in output


def test_console_tracebacks_show_no_frame_locals() -> None:
    assert importlib.util.find_spec("rich") is not None, "rich is what shows locals"
    script = textwrap.dedent(
        f"""
        import structlog
        from confirmhub.logs import configure_logging

        configure_logging(log_format="console", level="info")
        def check(token):
            raise RuntimeError("refused")
        try:
            check({LOCAL_SECRET!r})
        except RuntimeError:
            structlog.get_logger("t").exception("check.failed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    output = _scanned(result)
    assert "check.failed" in output
    assert "RuntimeError: refused" in output, "the traceback is still shown"
    assert LOCAL_SECRET not in output
