"""``confirmhub api-keys …`` and ``confirmhub secrets rotate``: administration on the database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable

from confirmhub.crypto import SecretsBox
from confirmhub.db import api_keys as db
from confirmhub.db.rotation import rotate_secrets
from confirmhub.db.store import Store
from confirmhub.errors import ConfirmhubError
from confirmhub.resources import open_database
from confirmhub.settings import Settings
from schemas.api_keys import SCOPES, ApiKeyCreate

RunAsync = Callable[[Callable[[], Awaitable[None]]], None]


class CommandFailed(ConfirmhubError):
    """The command could not do what was asked (the message says why)."""


async def _create(store: Store, args: argparse.Namespace) -> None:
    try:
        body = ApiKeyCreate(name=args.name, scopes=args.scope)
    except ValueError:
        raise CommandFailed(
            "the name must be 1 to 128 printable characters, not only blanks"
        ) from None
    async with store.transaction() as tx:
        made = await db.create_api_key(
            tx.connection, name=body.name, scopes=body.scopes, now=dt.datetime.now(dt.UTC)
        )
    # The key alone on stdout, so that KEY=$(confirmhub api-keys create …) captures it.
    print(made.key)
    record = made.record
    print(
        f"created API key {record.id} ({record.name!r}, scopes: {', '.join(record.scopes)}); "
        "the key above is stored only as a hash and cannot be shown again",
        file=sys.stderr,
    )


async def _list(store: Store, args: argparse.Namespace) -> None:
    async with store.reading() as connection:
        records = await db.list_api_keys(connection)
    if args.json:
        shown = [
            {
                "id": r.id,
                "name": r.name,
                "scopes": list(r.scopes),
                "created_at": r.created_at.isoformat(),
            }
            for r in records
        ]
        print(json.dumps(shown, indent=2))
        return
    print(f"{len(records)} API key(s)")
    for r in records:
        print(f"{r.id}\t{','.join(r.scopes)}\t{r.created_at.isoformat()}\t{r.name}")


async def _delete(store: Store, args: argparse.Namespace) -> None:
    async with store.transaction() as tx:
        deleted = await db.delete_api_key(tx.connection, args.id)
    if deleted is None:
        raise CommandFailed(f"no API key {args.id}")
    print(f"deleted API key {args.id}; every receiver refuses it within 2 seconds")


async def _rotate(store: Store, settings: Settings) -> None:
    if settings.secrets_key is None:
        raise CommandFailed("CONFIRMHUB_SECRETS_KEY is not set: there is no key to rotate to")
    report = await rotate_secrets(store, SecretsBox(settings.secrets_key))
    for name, rotated in report.rotated.items():
        print(
            f"{name}: {rotated} re-encrypted with the first key, "
            f"{report.current[name]} already under it"
        )
    if report.changed_meanwhile:
        print(f"{report.changed_meanwhile} changed while this ran; run it again to check them")
    undecryptable = sum(report.undecryptable.values())
    if undecryptable:
        raise CommandFailed(
            f"{undecryptable} stored secret(s) decrypt with none of the keys in "
            "CONFIRMHUB_SECRETS_KEY and were left as they are"
        )


def _on_database(
    run_async: RunAsync, work: Callable[[Store], Awaitable[None]], settings: Settings
) -> None:
    async def run() -> None:
        async with open_database(settings) as engine:
            await work(Store(engine))

    run_async(run)


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], run_async: RunAsync
) -> None:
    """Add ``api-keys`` and ``secrets`` to the command line."""
    keys = commands.add_parser(
        "api-keys",
        help="make, list or delete API keys",
        description="API keys with scopes for the services calling /api/*: calls "
        "(/api/v1/password-calls…), bitrix24 (/api/v1/method-confirmations…), admin "
        "(everything). Keys are stored hashed; a new key is printed once.",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True, help="who uses the key, e.g. 'signup-app'")
    create.add_argument(
        "--scope", action="append", required=True, choices=SCOPES, help="repeatable"
    )
    listing = actions.add_parser("list", help="show the keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    delete = actions.add_parser("delete", help="delete a key")
    delete.add_argument("id", help="the key's id, as `api-keys list` shows it")
    handlers = {"create": _create, "list": _list, "delete": _delete}

    def keys_command(settings: Settings, args: argparse.Namespace) -> None:
        handler = handlers[args.keys_command]
        _on_database(run_async, lambda store: handler(store, args), settings)

    keys.set_defaults(handler=keys_command)

    secrets_parser = commands.add_parser(
        "secrets",
        help="re-encrypt stored secrets after a secrets key change",
        description="Stored provider secrets and verification codes are encrypted with "
        "CONFIRMHUB_SECRETS_KEY, a comma-separated list whose first key encrypts and whose "
        "every key decrypts.",
    )
    secrets_actions = secrets_parser.add_subparsers(
        dest="secrets_command", required=True, metavar="ACTION"
    )
    secrets_actions.add_parser(
        "rotate",
        help="re-encrypt every stored secret with the first key",
        description="Re-encrypt every stored secret with the first key of "
        "CONFIRMHUB_SECRETS_KEY. Safe while the service serves, and resumable: what is "
        "under the first key already is skipped. Put the new key first everywhere, run "
        "this, then drop the old key.",
    )

    def secrets_command(settings: Settings, _args: argparse.Namespace) -> None:
        _on_database(run_async, lambda store: _rotate(store, settings), settings)

    secrets_parser.set_defaults(handler=secrets_command)
