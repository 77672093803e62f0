"""The one settings class: every ``CONFIRMHUB_*`` variable, built once in the CLI."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from confirmhub.broker_connection import broker_nodes
from confirmhub.crypto import fernet_keys
from confirmhub.guards import Rate, parse_calling_codes, parse_rates
from confirmhub.redact import redact_url, redact_urls
from schemas.events import CallOutcome

MCN_PUBLIC_API_URL = "https://paidmethods.mcn.ru"
DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)


class Settings(BaseSettings):
    """Runtime configuration read from the environment (prefix ``CONFIRMHUB_``)."""

    # No input in validation errors: a mistyped value may be a secret, or hold one.
    model_config = SettingsConfigDict(
        env_prefix="CONFIRMHUB_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # One URL per RabbitMQ cluster node, comma-separated.
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///confirmhub.db")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token: SecretStr | None = None
    mcn_webhook_secret: SecretStr | None = None
    mcn_api_url: str = MCN_PUBLIC_API_URL
    mcn_api_token: SecretStr | None = None
    mcn_api_timeout: float = Field(default=10.0, gt=0)
    bitrix24_application_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    bitrix24_trust_install: bool = False
    # How long a receiver reuses a portal's token hash read from the database; a token
    # rotated or removed through another receiver is refused there within this time.
    bitrix24_token_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    # How long a receiver reuses an API key read from the database: a key deleted through
    # another receiver is refused there within this time (the contract: within 2 s).
    api_key_cache_seconds: float = Field(default=1.0, ge=0, le=2)
    # Fernet keys (urlsafe base64, 32 bytes), comma-separated, encrypting provider secrets
    # and the codes kept for SMS fallback: the first encrypts, any decrypts (rotation).
    # Without one, neither can be stored.
    secrets_key: SecretStr | None = None
    sms_fallback_outcomes: frozenset[CallOutcome] = frozenset(
        {CallOutcome.BUSY, CallOutcome.NO_ANSWER, CallOutcome.UNAVAILABLE, CallOutcome.NO_CDR}
    )
    # The base URL SMS providers reach this service at (behind any proxy): sends ask for
    # delivery receipts at <public_url>/webhooks/sms/…, and Twilio's signatures cover it.
    # Unset, no receipts are asked for.
    public_url: str | None = None
    sms_timeout: float = Field(default=10.0, gt=0)
    sms_resume_interval: float = Field(default=5.0, gt=0)
    # By then a call has surely ended. A request to place a call whose outcome is unknown
    # (MCN's answer lost, the call not recorded) holds its number that long, and a placed
    # call still without a CDR then ends with outcome no_cdr (worker/cdr_timeout.py).
    cdr_timeout_seconds: int = Field(default=180, ge=1)
    # A claimed SMS whose worker has written nothing for this long is taken over by another
    # (the sweep): it ends an attempt left without an outcome, or resumes one not begun.
    # Keep it well above sms_timeout, or slow sends end as unconfirmed.
    sms_claim_lease: float = Field(default=120.0, gt=0)
    # Limits on placing calls and sending fallback SMS, each "count/seconds[,count/seconds…]"
    # (every bucket must allow; empty: no limit), and the calling codes that may be called.
    call_limits_per_number: str = "5/600,20/86400"
    call_limits_per_key: str = "600/60"
    sms_limits_per_number: str = "3/3600"
    call_countries: str = ""
    code_ttl_seconds: int = Field(default=600, ge=1)
    max_code_attempts: int = Field(default=5, ge=1, le=100)
    # A request whose headers and body have not all arrived by then is cut off, so slow or
    # trickling clients cannot hold connections for ever. An idle kept-alive connection is
    # not a request yet: it is closed after aiohttp's keep-alive timeout instead.
    client_timeout_seconds: float = Field(default=10.0, gt=0)
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Tuning beyond the contract; the defaults suit one machine.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    publish_confirm_timeout: float = Field(default=5.0, gt=0)
    retry_after_seconds: int = Field(default=5, ge=1)
    worker_prefetch: int = Field(default=200, ge=1, le=10_000)
    outbox_relay_interval: float = Field(default=2.0, gt=0)
    # How often each worker looks for calls past the CDR timeout: a call ends no_cdr at
    # most this much after its timeout.
    cdr_sweep_interval: float = Field(default=5.0, gt=0)
    # Backoff of a message that failed for a transient reason, then dead-lettered.
    worker_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    worker_max_attempts: int = Field(default=8, ge=1, le=100)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("amqp_url")
    @classmethod
    def _amqp_nodes(cls, value: SecretStr) -> SecretStr:
        broker_nodes(value.get_secret_value())  # ValueError naming the malformed one
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        try:
            sa.make_url(value.get_secret_value())
        except (ValueError, sa.exc.ArgumentError):
            # The parser's message quotes parts of the URL, the password among them.
            raise ValueError(
                "must be a database URL, like postgresql+asyncpg://user:password@host:5432/db "
                "(percent-encode any / @ : ? # in the password)"
            ) from None
        return value

    @field_validator("call_limits_per_number", "call_limits_per_key", "sms_limits_per_number")
    @classmethod
    def _rates(cls, value: str) -> str:
        parse_rates(value)  # ValueError naming the malformed bucket
        return value

    @field_validator("call_countries")
    @classmethod
    def _calling_codes(cls, value: str) -> str:
        parse_calling_codes(value)
        return value

    @property
    def call_number_rates(self) -> tuple[Rate, ...]:
        """``CONFIRMHUB_CALL_LIMITS_PER_NUMBER`` as rates."""
        return parse_rates(self.call_limits_per_number)

    @property
    def call_key_rates(self) -> tuple[Rate, ...]:
        """``CONFIRMHUB_CALL_LIMITS_PER_KEY`` as rates."""
        return parse_rates(self.call_limits_per_key)

    @property
    def sms_number_rates(self) -> tuple[Rate, ...]:
        """``CONFIRMHUB_SMS_LIMITS_PER_NUMBER`` as rates."""
        return parse_rates(self.sms_limits_per_number)

    @property
    def calling_codes(self) -> frozenset[str]:
        """``CONFIRMHUB_CALL_COUNTRIES`` as calling codes (empty: every country)."""
        return parse_calling_codes(self.call_countries)

    @field_validator("secrets_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                fernet_keys(value.get_secret_value())
            except ValueError:
                # The message never quotes the value: it is a secret.
                raise ValueError(
                    "must be one Fernet key (32 url-safe base64-encoded bytes) or a "
                    "comma-separated list of them"
                ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, like https://confirmhub.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be a base URL: no query string, fragment or credentials")
        return value.strip().rstrip("/")

    def public_view(self) -> dict[str, object]:
        """The effective configuration with every secret and URL password masked."""
        view: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if name == "amqp_url":
                view[name] = redact_urls(self.amqp_url.get_secret_value())
            elif name == "database_url":
                view[name] = redact_url(self.database_url.get_secret_value())
            elif isinstance(value, SecretStr):
                view[name] = "**********"
            elif name == "bitrix24_application_tokens":
                view[name] = dict.fromkeys(value, "**********")
            elif name.endswith("_url") and isinstance(value, str):
                # An outbound URL may carry credentials too (``https://user:pw@host``).
                view[name] = redact_url(value)
            else:
                view[name] = value
        return view
