"""What the bench needs beyond the project's venv, installed on first use.

- Python packages of ``bench/requirements.txt`` (not the project's dependencies): pip.
- ``wrk``: apt, as root or through ``sudo -n``; otherwise a clear error.
- RabbitMQ and PostgreSQL on loopback: ``scripts/ensure-services`` if either is down.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from bench.lab import BenchError, say

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
_ENSURE_SERVICES = Path(__file__).resolve().parents[1] / "scripts" / "ensure-services"


def _missing_requirements() -> list[str]:
    missing = []
    for line in REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def ensure_requirements() -> None:
    """pip-install ``bench/requirements.txt`` into this interpreter if anything is missing."""
    missing = _missing_requirements()
    if not missing:
        return
    say(f"installing {', '.join(missing)} from {REQUIREMENTS.name}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)]
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - our interpreter
        raise BenchError(f"could not install the bench's requirements: {' '.join(command)}")


def _as_root(argv: list[str]) -> list[str] | None:
    if os.geteuid() == 0:
        return argv
    sudo = shutil.which("sudo")
    if sudo is None:
        return None
    probe = subprocess.run([sudo, "-n", "true"], capture_output=True, check=False)  # noqa: S603
    return [sudo, "-n", *argv] if probe.returncode == 0 else None


def ensure_wrk() -> None:
    """Install wrk with apt if it is missing; BenchError if that is not possible."""
    if shutil.which("wrk"):
        return
    apt_get = shutil.which("apt-get")
    update = _as_root([apt_get, "update", "-qq"]) if apt_get else None
    install = _as_root([apt_get, "install", "-y", "-qq", "wrk"]) if apt_get else None
    if update is None or install is None:
        raise BenchError(
            "wrk is not installed and cannot be installed here (needs apt-get as root or "
            "passwordless sudo): install it (Debian: apt-get install wrk) and run again"
        )
    say("wrk is missing; installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (update, install):
        if subprocess.run(command, env=env, check=False).returncode != 0:  # noqa: S603
            raise BenchError(f"`{' '.join(command)}` failed; install wrk and run again")
    if not shutil.which("wrk"):
        raise BenchError("apt-get installed no wrk; install it and run again")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def ensure_services(*, amqp_port: int = 5672, postgres_port: int = 5432) -> None:
    """RabbitMQ and PostgreSQL answering on loopback, started through the project's script."""
    if _port_open(amqp_port) and _port_open(postgres_port) and shutil.which("rabbitmqctl"):
        return
    if _ENSURE_SERVICES.exists():
        say("RabbitMQ or PostgreSQL is down; running scripts/ensure-services")
        subprocess.run(  # noqa: S603 - the project's script
            [str(_ENSURE_SERVICES), "rabbitmq", "postgresql"], check=False
        )
    if not (_port_open(amqp_port) and _port_open(postgres_port)):
        raise BenchError(
            f"RabbitMQ (127.0.0.1:{amqp_port}) and PostgreSQL (127.0.0.1:{postgres_port}) must "
            "answer: start them with `make services`"
        )
    if not shutil.which("rabbitmqctl"):
        raise BenchError("rabbitmqctl is not on PATH: the bench creates its vhosts with it")
