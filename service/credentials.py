"""Credentials of the embedded default: generated once into a file beside the SQLite database.

On a SQLite file, the first start generates each of ``CONFIRMHUB_ADMIN_TOKEN``,
``CONFIRMHUB_MCN_WEBHOOK_SECRET`` and ``CONFIRMHUB_SECRETS_KEY`` that is unset into
``confirmhub.credentials`` (dotenv lines, mode 0600) beside it; every command reads that file
later, and a variable set in the environment wins over it. Nothing is generated for
PostgreSQL, where several processes must share one value: each missing secret is named in
the startup log instead. Generated values are never logged or printed.
"""

from __future__ import annotations

import fcntl
import io
import os
import secrets
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
import structlog
from dotenv import dotenv_values

from confirmhub.crypto import SecretsBox
from confirmhub.errors import ConfirmhubError
from confirmhub.settings import Settings

log = structlog.get_logger("confirmhub")

CREDENTIALS_FILE = "confirmhub.credentials"


def _token() -> str:
    return secrets.token_urlsafe(32)


# Variable → (settings field, how to make a value, what is refused while it is unset).
GENERATED: dict[str, tuple[str, Callable[[], str], str]] = {
    "CONFIRMHUB_ADMIN_TOKEN": (
        "admin_token",
        _token,
        "no bootstrap admin key: /api/* accepts only keys made with `confirmhub api-keys create`",
    ),
    "CONFIRMHUB_MCN_WEBHOOK_SECRET": (
        "mcn_webhook_secret",
        _token,
        "the MCN webhook refuses every CDR",
    ),
    "CONFIRMHUB_SECRETS_KEY": (
        "secrets_key",
        SecretsBox.generate_key,
        "provider secrets cannot be stored (503) and no code is kept for the SMS fallback",
    ),
}


class CredentialsUnwritable(ConfirmhubError):
    """The credentials file beside the SQLite database cannot be written."""


def credentials_path(database_url: str) -> Path | None:
    """Where the embedded default keeps its credentials; None unless a SQLite file."""
    url = sa.make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a SQLite URI: in memory, or too unusual to guess
        return None
    return Path(database).absolute().parent / CREDENTIALS_FILE


def load_settings() -> Settings:
    """Settings from the environment, completed by the credentials file if there is one."""
    settings = Settings()
    path = credentials_path(settings.database_url.get_secret_value())
    if path is None or not path.is_file():
        return settings
    # pydantic-settings reads the file under the environment: a variable set there wins.
    return Settings(_env_file=path, _env_file_encoding="utf-8")


def _missing(settings: Settings) -> list[str]:
    return [name for name, (field, _, _) in GENERATED.items() if getattr(settings, field) is None]


def ensure_credentials(settings: Settings, *, stream: TextIO = sys.stderr) -> Settings:
    """Before a start: generate what is missing on the embedded default (telling the user on
    ``stream``), or log each missing secret where nothing is generated."""
    missing = _missing(settings)
    path = credentials_path(settings.database_url.get_secret_value())
    if not missing:
        return settings
    if path is None:
        for name in missing:
            log.warning("credentials.missing", variable=name, effect=GENERATED[name][2])
        return settings
    try:
        generated = _append_missing(path, missing)
    except OSError as exc:
        raise CredentialsUnwritable(
            f"cannot write the generated credentials to {path} ({exc.strerror or exc}); "
            f"set {', '.join(missing)} or make the directory writable"
        ) from exc
    if generated:
        stream.write(_notice(path, generated, settings))
        stream.flush()
    return load_settings()


def _append_missing(path: Path, missing: list[str]) -> list[str]:
    """Add a value for each name the file lacks; the names added.

    The file is locked while it is read and extended, so that a receiver and a worker
    started together on one database agree on one set of values.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        text = file.read().decode("utf-8", errors="replace")
        present = dotenv_values(stream=io.StringIO(text))
        added = [name for name in missing if not present.get(name)]
        if added:
            os.fchmod(file.fileno(), 0o600)
            lines = "".join(f"{name}={GENERATED[name][1]()}\n" for name in added)
            separator = "\n" if text and not text.endswith("\n") else ""
            file.write((separator + lines).encode())
            file.flush()
            os.fsync(file.fileno())
    return added


def _notice(path: Path, generated: list[str], settings: Settings) -> str:
    """What the first start tells the user: where the file is and how to use it."""
    shown = shlex.quote(str(path))
    base = f"http://{settings.host}:{settings.port}"
    return (
        f"confirmhub: generated {', '.join(generated)} into {path} (mode 0600);\n"
        "  every later start on this database reads them from there.\n"
        f"  Use them in a shell:  set -a; . {shown}; set +a\n"
        f'  then, for example:    curl -H "Authorization: Bearer $CONFIRMHUB_ADMIN_TOKEN" '
        f"{base}/api/v1/api-keys\n"
        "  Keep the file with the database: stored secrets decrypt only with its "
        "CONFIRMHUB_SECRETS_KEY.\n"
    )
