"""The ``confirmhub`` command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from confirmhub.errors import BrokerUnavailable, ConfirmhubError, DatabaseUnavailable
from confirmhub.logs import configure_logging
from confirmhub.redact import redact_text, redact_url
from confirmhub.settings import Settings
from service import admin_commands
from service.credentials import ensure_credentials, load_settings


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
        # A driver's message may quote the URL or its password (a URL it cannot parse).
        reason = redact_text(str(exc), url, _password(url))[:300]
        raise DatabaseUnavailable(
            f"cannot migrate the database at {redact_url(url)} ({type(exc).__name__}: {reason}); "
            "start it or set CONFIRMHUB_DATABASE_URL"
        ) from exc


def _password(url: str) -> str:
    """The password part of ``url``'s userinfo, however it is written ("" when none)."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    return userinfo.partition(":")[2]


def _cmd_run(settings: Settings, _args: argparse.Namespace) -> None:
    from service.runtime import serve

    migrate(settings)  # the embedded default sets itself up
    _run_async(lambda: serve(settings, receiver=True, worker=True))


def _cmd_receiver(settings: Settings, _args: argparse.Namespace) -> None:
    from service.runtime import serve

    _run_async(lambda: serve(settings, receiver=True, worker=False))


def _cmd_worker(settings: Settings, _args: argparse.Namespace) -> None:
    from service.runtime import serve

    _run_async(lambda: serve(settings, receiver=False, worker=True))


def _cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    migrate(settings)
    print(f"database at {redact_url(settings.database_url.get_secret_value())} is current")


async def _dlq(settings: Settings, args: argparse.Namespace) -> None:
    from aio_pika.exceptions import CONNECTION_EXCEPTIONS

    try:
        await _dlq_on_broker(settings, args)
    except CONNECTION_EXCEPTIONS as exc:
        # Unacknowledged, whatever was being read stays in the queue: running again is safe.
        raise BrokerUnavailable(
            f"lost the connection to RabbitMQ ({type(exc).__name__}); run the command again"
        ) from exc


async def _dlq_on_broker(settings: Settings, args: argparse.Namespace) -> None:
    from confirmhub.broker import ConfirmingPublisher
    from confirmhub.dlq import list_dead_letters, replay_dead_letters
    from confirmhub.resources import open_broker

    async with open_broker(settings, role="dlq") as broker:
        connection = await broker.current()
        if args.dlq_command == "list":
            letters = await list_dead_letters(connection, limit=args.limit)
            if args.json:
                print(json.dumps([dataclasses.asdict(letter) for letter in letters], indent=2))
                return
            print(f"{len(letters)} dead-lettered message(s)")
            for letter in letters:
                print(
                    f"{letter.message_id}\tqueue={letter.queue}\treason={letter.reason}"
                    f"\tat={letter.dead_lettered_at}\tdetail={letter.detail}"
                )
            return
        publisher = ConfirmingPublisher(broker, confirm_timeout=settings.publish_confirm_timeout)
        ids = None if args.all else set(args.id)
        replayed = await replay_dead_letters(connection, publisher, message_ids=ids)
        print(f"replayed {replayed} message(s)")


def _cmd_dlq(settings: Settings, args: argparse.Namespace) -> None:
    _run_async(lambda: _dlq(settings, args))


def _cmd_status(settings: Settings, args: argparse.Namespace) -> None:
    from service.trial import call_status

    async def show() -> None:
        print(json.dumps(await call_status(settings, args.verification_call_uuid), indent=2))

    _run_async(show)


def _cmd_send_test_webhook(settings: Settings, args: argparse.Namespace) -> None:
    from service.trial import send_test_webhook

    async def send() -> None:
        answer = await send_test_webhook(settings, outcome=args.outcome, url=args.url)
        print(json.dumps(answer, indent=2))

    _run_async(send)


def _cmd_tail_events(settings: Settings, args: argparse.Namespace) -> None:
    from service.trial import tail_events

    async def tail() -> None:
        await tail_events(
            settings, routing_key=args.routing_key, count=args.count, seconds=args.timeout
        )

    _run_async(tail)


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
    for name, handler, summary, starts in (
        ("run", _cmd_run, "migrate, then run receiver and worker in one process", True),
        ("receiver", _cmd_receiver, "run the HTTP receiver and API only", True),
        ("worker", _cmd_worker, "run a worker only", True),
        ("migrate", _cmd_migrate, "bring the database schema up to date", False),
        ("config", _cmd_config, "print the effective configuration, secrets masked", False),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.set_defaults(handler=handler, starts_service=starts)
    _add_dlq_parser(commands)
    admin_commands.add_parsers(commands, _run_async)
    _add_trial_parsers(commands)
    return parser


def _add_trial_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from service.trial import SAMPLE_CDRS

    status = commands.add_parser(
        "status",
        help="print a password call's stored state",
        description="Print a password call's stored state and outcome, as the API shows it.",
    )
    status.add_argument("verification_call_uuid")
    status.set_defaults(handler=_cmd_status)
    send = commands.add_parser(
        "send-test-webhook",
        help="POST a sample MCN CDR to a running receiver",
        description="POST a sample MCN password-call CDR, with a fresh call id, to a running "
        "receiver using the configured webhook secret; prints the answer.",
    )
    send.add_argument("--outcome", choices=sorted(SAMPLE_CDRS), default="busy")
    send.add_argument("--url", help="receiver base URL (default: CONFIRMHUB_HOST:PORT)")
    send.set_defaults(handler=_cmd_send_test_webhook)
    tail = commands.add_parser(
        "tail-events",
        help="print downstream events as they are published",
        description="Bind a temporary queue to confirmhub.events and print each event's body.",
    )
    tail.add_argument("--routing-key", default="#", help="binding key, e.g. 'password_call.*'")
    tail.add_argument("--count", type=int, help="exit after this many events")
    tail.add_argument("--timeout", type=float, help="exit after this many seconds")
    tail.set_defaults(handler=_cmd_tail_events)


def _add_dlq_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser(
        "dlq",
        help="inspect or replay the dead-letter queue",
        description="Inspect the dead-letter queue, or send its messages back to their worker "
        "queue once the cause is fixed.",
    )
    dlq.set_defaults(handler=_cmd_dlq)
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show dead letters and why they are there")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    replay = actions.add_parser("replay", help="send dead letters back to their queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", default=[], help="a message id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")


def _invalid(exc: ValidationError) -> str:
    """Each failing variable and why, never its value (it may be a secret)."""
    return "; ".join(
        f"CONFIRMHUB_{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    )


def _unparsed(exc: SettingsError) -> str:
    """The variable pydantic-settings could not parse (its message names the field only)."""
    field = re.search(r'field "(\w+)"', str(exc))
    name = f"CONFIRMHUB_{field.group(1).upper()}" if field else "a variable"
    return f"{name}: not valid JSON"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``confirmhub`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"confirmhub: invalid configuration: {_invalid(exc)}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a JSON variable that does not parse
        print(f"confirmhub: invalid configuration: {_unparsed(exc)}", file=sys.stderr)
        return 2
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    try:
        if getattr(args, "starts_service", False):
            settings = ensure_credentials(settings)
        args.handler(settings, args)
    except ConfirmhubError as exc:
        print(f"confirmhub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
