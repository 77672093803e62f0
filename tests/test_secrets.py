"""Masking and hashing of secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from confirmhub.codes import code_matches, hash_code
from confirmhub.redact import redact_url, sha256_hex
from confirmhub.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
        ("sqlite+aiosqlite:///confirmhub.db", "sqlite+aiosqlite:///confirmhub.db"),
        (
            "postgresql+asyncpg://u:p%40ss@db/x?sslmode=require",
            "postgresql+asyncpg://u:***@db/x?sslmode=***",
        ),
        (
            "postgresql+asyncpg://u:pw@/x?host=a:5432&host=b:5433&password=pw2"
            "&target_session_attrs=primary",
            "postgresql+asyncpg://u:***@/x?host=a:5432&host=b:5433&password=***"
            "&target_session_attrs=primary",
        ),
        ("postgresql+asyncpg://u@/x?host=a:1&key", "postgresql+asyncpg://u@/x?host=a:1&***"),
        ("amqp://user@h/", "amqp://user@h/"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_code_hash_verifies_and_is_salted() -> None:
    stored = hash_code("1234")
    assert "1234" not in stored
    assert code_matches("1234", stored)
    assert not code_matches("1235", stored)
    assert hash_code("1234") != stored
    assert not code_matches("1234", "garbage")


def test_sha256_hex() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_config_shows_the_hosts_of_a_multi_host_database_url_but_no_password() -> None:
    url = (
        "postgresql+asyncpg://confirmhub:pg-secret-1@/confirmhub"
        "?host=pg-1:5432&host=pg-2:5432&target_session_attrs=primary&password=pg-secret-2"
    )
    shown = str(Settings(database_url=SecretStr(url)).public_view()["database_url"])
    assert shown == (
        "postgresql+asyncpg://confirmhub:***@/confirmhub"
        "?host=pg-1:5432&host=pg-2:5432&target_session_attrs=primary&password=***"
    )
