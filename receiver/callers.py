"""Who is calling the API: the one place that answers it.

Authentication puts a ``Caller`` on every ``/api/`` request; what is scoped to a client
(scopes, idempotency keys, per-key limits) reads it from ``request[CALLER]`` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Scope = Literal["calls", "bitrix24", "admin"]

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
