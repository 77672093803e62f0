"""Response bodies that handlers write as plain dicts, modelled so the API docs can show them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import OwnModel


class Ignored(OwnModel):
    """``200`` of a Bitrix24 event that needs no action (another event, or a lost race)."""

    ignored: Literal[True]


class PortalRegistered(OwnModel):
    """``200`` of an ``ONAPPINSTALL`` that registered a new portal (trust-install mode)."""

    registered: Literal[True]
    member_id: str


class PortalSaved(OwnModel):
    """``200`` of ``PUT /api/v1/bitrix24/portals/{member_id}``: whether the portal is new."""

    member_id: str
    created: bool


class Liveness(OwnModel):
    """``GET /healthz``: the process is alive."""

    status: Literal["ok"]


class Readiness(OwnModel):
    """``GET /readyz``: overall readiness and each dependency's check."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]
    broker_node: str | None = Field(
        description="The RabbitMQ node (host:port) this receiver publishes to; null while it "
        "connects to another"
    )
