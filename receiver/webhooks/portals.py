"""Which Bitrix24 portals we accept events from, and the token each must present."""

from __future__ import annotations

import datetime as dt
import hmac

import sqlalchemy as sa
from pydantic import SecretStr

from confirmhub.db import bitrix24 as db
from confirmhub.db.engine import insert_for
from confirmhub.db.store import Store
from confirmhub.db.tables import bitrix24_portals
from confirmhub.redact import sha256_hex
from receiver.expiring_cache import ExpiringCache

# Compared against when a portal is unknown, so that the answer takes the same time.
_NO_PORTAL = "0" * 64


class PortalDirectory:
    """Portal tokens live in the database, shared by every receiver and changed without restarts.

    Tokens from ``CONFIRMHUB_BITRIX24_APPLICATION_TOKENS`` are written there at start-up as
    ``config`` entries, and a ``config`` entry no longer configured is deleted then; a portal
    added or rotated through the API (``api``) or learnt from its install event (``install``)
    is left alone by configuration.
    """

    def __init__(self, store: Store, *, trust_install: bool, cache_seconds: float = 0.0) -> None:
        self._store = store
        self.trust_install = trust_install
        # member_id → token hash; known portals only, so that events naming made-up
        # portals cannot fill it.
        self._cache: ExpiringCache[str, str] = ExpiringCache(cache_seconds)

    async def load_configured(self, tokens: dict[str, SecretStr]) -> None:
        """Write configured tokens and revoke the configured portals no longer listed,
        leaving portals managed through the API or registered by install alone."""
        now = dt.datetime.now(dt.UTC)
        async with self._store.transaction() as tx:
            for member_id, token in tokens.items():
                digest = sha256_hex(token.get_secret_value())
                statement = insert_for(tx.connection, bitrix24_portals).values(
                    member_id=member_id,
                    token_sha256=digest,
                    source="config",
                    created_at=now,
                    updated_at=now,
                )
                await tx.connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["member_id"],
                        set_={"token_sha256": digest, "updated_at": now},
                        where=sa.and_(
                            bitrix24_portals.c.source == "config",
                            bitrix24_portals.c.token_sha256 != digest,
                        ),
                    )
                )
            # Removing a portal from the configuration must revoke its token, or it would
            # keep working for ever after the operator meant to cut it off.
            await tx.connection.execute(
                bitrix24_portals.delete().where(
                    bitrix24_portals.c.source == "config",
                    bitrix24_portals.c.member_id.not_in(list(tokens)),
                )
            )

    async def _token_hash(self, member_id: str) -> str | None:
        # Every Bitrix24 event is authenticated: without the cache each costs a database
        # read, which on SQLite is most of the request's time.
        async def load() -> str | None:
            async with self._store.reading() as connection:
                return await db.select_portal_token_hash(connection, member_id)

        return await self._cache.get_or_load(member_id, load)

    def forget(self, member_id: str) -> None:
        """Drop what is cached for ``member_id``: its token was just changed here."""
        self._cache.forget(member_id)

    async def is_known(self, member_id: str) -> bool:
        """Whether any token is registered for ``member_id``."""
        return await self._token_hash(member_id) is not None

    async def authenticate(self, member_id: str, application_token: str) -> bool:
        """Whether ``application_token`` is the one registered for ``member_id``."""
        expected = await self._token_hash(member_id)
        given = sha256_hex(application_token)
        matches = hmac.compare_digest(given, expected or _NO_PORTAL)
        return expected is not None and matches

    async def learn_from_install(
        self, member_id: str, application_token: str, *, domain: str | None
    ) -> bool:
        """Register a new portal from its install event; False if one is already known."""
        self.forget(member_id)
        async with self._store.transaction() as tx:
            return await db.add_portal_if_absent(
                tx.connection,
                member_id=member_id,
                token_sha256=sha256_hex(application_token),
                domain=domain,
                source="install",
                now=dt.datetime.now(dt.UTC),
            )
