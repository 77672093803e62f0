"""The ``confirmhub`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from confirmhub.errors import ConfirmhubError, DatabaseUnavailable
from confirmhub.logs import configure_logging
from confirmhub.redact import redact_url
from confirmhub.settings import Settings


def _run_async(coroutine_factory: Callable[[], object]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(coroutine_factory())  # type: ignore[arg-type]
    else:
        uvloop.run(coroutine_factory())  # type: ignore[arg-type]


def migrate(settings: Settings) -> None:
    """Bring the database schema to the code's head."""
    from confirmhub.db.migrate import upgrade_to_head

    url = settings.database_url.get_secret_value()
    try:
        upgrade_to_head(url)
    except Exception as exc:
        raise DatabaseUnavailable(
            f"cannot migrate the database at {redact_url(url)} ({type(exc).__name__}: {exc}); "
            "start it or set CONFIRMHUB_DATABASE_URL"
        ) from exc


def _cmd_run(settings: Settings, _args: argparse.Namespace) -> None:
    from confirmhub.runtime import serve

    migrate(settings)  # the embedded default sets itself up
    _run_async(lambda: serve(settings, receiver=True, worker=True))


def _cmd_receiver(settings: Settings, _args: argparse.Namespace) -> None:
    from confirmhub.runtime import serve

    _run_async(lambda: serve(settings, receiver=True, worker=False))


def _cmd_worker(settings: Settings, _args: argparse.Namespace) -> None:
    from confirmhub.runtime import serve

    _run_async(lambda: serve(settings, receiver=False, worker=True))


def _cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    migrate(settings)
    print(f"database at {redact_url(settings.database_url.get_secret_value())} is current")


def _cmd_config(settings: Settings, _args: argparse.Namespace) -> None:
    print(json.dumps(settings.public_view(), indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per role."""
    parser = argparse.ArgumentParser(
        prog="confirmhub",
        description="Durable receiver and workers for confirmation webhooks. "
        "Configuration comes from CONFIRMHUB_* environment variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, handler, summary in (
        ("run", _cmd_run, "migrate, then run receiver and worker in one process"),
        ("receiver", _cmd_receiver, "run the HTTP receiver and API only"),
        ("worker", _cmd_worker, "run a worker only"),
        ("migrate", _cmd_migrate, "bring the database schema up to date"),
        ("config", _cmd_config, "print the effective configuration, secrets masked"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``confirmhub`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"confirmhub: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    try:
        args.handler(settings, args)
    except ConfirmhubError as exc:
        print(f"confirmhub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
