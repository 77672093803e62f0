"""Who is calling the API: the one place that answers it.

Authentication (``receiver.access``) puts a ``Caller`` on every authenticated ``/api/``
request; what is scoped to a client (scopes, idempotency keys, per-key limits) reads it from
``request[CALLER]`` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from pydantic import SecretStr

from confirmhub.db import api_keys as db
from confirmhub.db.store import Store
from receiver.auth import secrets_equal
from receiver.errors import Unauthorized
from receiver.expiring_cache import ExpiringCache
from schemas.api_keys import Scope

# The bootstrap key, CONFIRMHUB_ADMIN_TOKEN: it has no row of its own, so a fixed id.
ADMIN_TOKEN_KEY_ID = "admin-token"  # noqa: S105 (an id, not the token)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API client: its key's id and name, and the scopes it holds."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """Whether this caller may use an operation that needs ``scope``."""
        return "admin" in self.scopes or scope in self.scopes


ADMIN_TOKEN_CALLER = Caller(
    key_id=ADMIN_TOKEN_KEY_ID, name="CONFIRMHUB_ADMIN_TOKEN", scopes=frozenset({"admin"})
)

CALLER = web.RequestKey("caller", Caller)


class CallerDirectory:
    """Names the caller behind a bearer key: the bootstrap admin token, or a stored key.

    Stored keys are shared by every receiver through the database. A key found there is
    reused for ``cache_seconds``, so a key deleted through another receiver is refused here
    within that time; unknown keys are never cached, so made-up keys cannot fill the cache.
    """

    def __init__(
        self, store: Store, *, admin_token: SecretStr | None, cache_seconds: float
    ) -> None:
        self._store = store
        self._admin_token = admin_token
        self._cache: ExpiringCache[str, Caller] = ExpiringCache(cache_seconds)  # by key hash

    async def identify(self, key: str | None) -> Caller:
        """The caller presenting ``key``; Unauthorized for a missing or unknown key."""
        if key is None:
            raise Unauthorized("an API key is missing: send Authorization: Bearer <key>")
        if self._admin_token is not None and secrets_equal(
            key, self._admin_token.get_secret_value()
        ):
            return ADMIN_TOKEN_CALLER
        digest = db.key_sha256(key)
        caller = None if digest is None else await self._stored(digest)
        if caller is None:
            raise Unauthorized("the API key is unknown, or it was deleted")
        return caller

    async def _stored(self, digest: str) -> Caller | None:
        async def load() -> Caller | None:
            async with self._store.reading() as connection:
                record = await db.find_api_key(connection, digest)
            return None if record is None else _caller(record)

        return await self._cache.get_or_load(digest, load)

    def forget(self, digest: str) -> None:
        """Drop a key from the cache at once: it was just deleted through this receiver."""
        self._cache.forget(digest)


def _caller(record: db.ApiKeyRecord) -> Caller:
    return Caller(key_id=record.id, name=record.name, scopes=frozenset(record.scopes))
