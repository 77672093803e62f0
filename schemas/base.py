"""Base classes: lenient for what upstreams send, strict for what we publish."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UpstreamModel(BaseModel):
    """A third-party payload: unknown keys ignored, strings coerced where upstreams send them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


class OwnModel(BaseModel):
    """A message or body of our own: exact fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
