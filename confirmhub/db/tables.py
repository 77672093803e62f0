"""Table definitions; Alembic migrations are the source of truth for the live schema.

Every length comes from ``schemas.limits``, which the schemas that accept the values read too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from schemas import limits

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


password_calls = sa.Table(
    "password_calls",
    metadata,
    sa.Column("verification_call_uuid", sa.String(limits.VERIFICATION_CALL_UUID), primary_key=True),
    sa.Column("call_id", sa.String(limits.CALL_ID), nullable=False),
    sa.Column("account_id", sa.String(limits.ACCOUNT_ID), nullable=False),
    # Filled by the initiation; a CDR for a call never initiated here leaves them null.
    # MCN's caller_number is never stored: its last four digits are the code.
    sa.Column("phone_number", sa.String(limits.PHONE_NUMBER)),
    sa.Column("code_hash", sa.String(limits.CODE_HASH)),
    sa.Column("initiated_at", UtcDateTime()),
    # Filled by the CDR; null until it arrives.
    sa.Column("outcome", sa.String(limits.OUTCOME)),
    sa.Column("q931_status", sa.Integer),
    sa.Column("final_status", sa.String(limits.FINAL_STATUS)),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Verification: the code, encrypted, for an SMS fallback; checks against code_hash.
    sa.Column("code_encrypted", sa.LargeBinary),
    sa.Column("code_expires_at", UtcDateTime()),
    sa.Column("locale", sa.String(limits.LOCALE)),
    sa.Column("check_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "verification_status",
        sa.String(limits.VERIFICATION_STATUS),
        nullable=False,
        server_default="pending",
    ),
    sa.Column("approved_at", UtcDateTime()),
    # SMS fallback: queued once with the outcome, then sent or failed.
    sa.Column("sms_status", sa.String(limits.SMS_STATUS)),
    sa.Column("sms_provider", sa.String(limits.SMS_PROVIDER)),
    sa.Column("sms_message_id", sa.String(limits.SMS_MESSAGE_ID)),
    sa.Column("sms_error", sa.String(limits.SMS_ERROR)),
    sa.Column("sms_updated_at", UtcDateTime()),
    # Bumped by every claim of the SMS: a worker writes only under the claim it holds, so
    # one whose lease ran out (slow, or presumed dead) can no longer act on the SMS.
    sa.Column("sms_claim", sa.Integer, nullable=False, server_default="0"),
    # 1 for the first SMS; 2 once an undelivered one has failed over to the next provider.
    sa.Column("sms_round", sa.Integer, nullable=False, server_default="1"),
    # The last send round counted against CONFIRMHUB_SMS_LIMITS_PER_NUMBER: a round is
    # counted once, however many claims it takes to send it.
    sa.Column("sms_counted_round", sa.Integer, nullable=False, server_default="0"),
    # The live call to a number (no outcome yet) is looked up by the number.
    sa.Index(
        "ix_password_calls_live_number",
        "phone_number",
        postgresql_where=sa.text("outcome IS NULL"),
        sqlite_where=sa.text("outcome IS NULL"),
    ),
    sa.Index(
        "ix_password_calls_sms_due",
        "sms_updated_at",
        postgresql_where=sa.text("sms_status IN ('queued', 'sending')"),
        sqlite_where=sa.text("sms_status IN ('queued', 'sending')"),
    ),
)

# Each request to place a password call, written before MCN is called: a request whose
# outcome is not known (in flight, or MCN's answer lost) holds its number, so a retry cannot
# pay for a second call (confirmhub/db/call_requests.py).
HOLDING_STATES = ("placing", "in_doubt")
HOLDS_NUMBER = sa.text("state IN ({})".format(", ".join(f"'{state}'" for state in HOLDING_STATES)))
password_call_requests = sa.Table(
    "password_call_requests",
    metadata,
    sa.Column("id", sa.String(limits.CALL_REQUEST_ID), primary_key=True),
    # The API key that asked (receiver.callers.Caller.key_id) and, when the client sent one,
    # its Idempotency-Key: what a repeated request is recognised by.
    sa.Column("key_id", sa.String(limits.CALLER_KEY_ID), nullable=False),
    sa.Column("idempotency_key", sa.String(limits.IDEMPOTENCY_KEY)),
    # Digits only, so that "+421…" and "421…" hold the same number.
    sa.Column("phone_number", sa.String(limits.PHONE_NUMBER), nullable=False),
    sa.Column("state", sa.String(limits.CALL_REQUEST_STATE), nullable=False),
    # MCN's id of the call, once it is known.
    sa.Column("verification_call_uuid", sa.String(limits.VERIFICATION_CALL_UUID)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index(
        "uq_password_call_requests_held_number",
        "phone_number",
        unique=True,
        postgresql_where=HOLDS_NUMBER,
        sqlite_where=HOLDS_NUMBER,
    ),
    sa.Index("uq_password_call_requests_idempotency_key", "key_id", "idempotency_key", unique=True),
)

# Idempotency keys (receiver/idempotency.py), per API key, kept until ``expires_at``:
# ``in_progress`` while the first request runs, ``done`` with the answer to replay, or
# ``in_doubt`` when its request failed after a call may have been placed.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key_id", sa.String(limits.CALLER_KEY_ID), primary_key=True),
    sa.Column("idempotency_key", sa.String(limits.IDEMPOTENCY_KEY), primary_key=True),
    sa.Column("fingerprint", sa.String(limits.REQUEST_FINGERPRINT), nullable=False),
    sa.Column("state", sa.String(limits.IDEMPOTENCY_STATE), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("content_type", sa.String(limits.CONTENT_TYPE)),
    sa.Column("location", sa.String(limits.LOCATION)),
    sa.Column("body", sa.LargeBinary),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# GCRA rate limit buckets (confirmhub/db/rate_limits.py): one theoretical arrival time per
# bucket, in milliseconds since the epoch so that both backends do the arithmetic alike.
rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("kind", sa.String(limits.RATE_BUCKET_KIND), primary_key=True),
    sa.Column("subject", sa.String(limits.RATE_BUCKET_SUBJECT), primary_key=True),
    sa.Column("tat_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_rate_buckets_tat_ms", "tat_ms"),
)

# One row per request to an SMS provider, written before the request goes out, so that a
# send whose outcome was never recorded is known and never repeated. ``attempt_id`` is ours
# to hand the provider as a reference (a callback URL, a client ref), and
# ``provider_message_id`` is the provider's: delivery receipts find their attempt by either.
# States: sending (the request may be in flight), accepted, failed (not taken; the next
# provider may try), refused (not taken; final), unconfirmed (may have been taken; final).
# Delivery receipts fill the delivery columns: ``delivery`` is pending, then delivered or
# undelivered, and once final never changes; ``delivery_status`` and ``delivery_error_code``
# are the provider's words for it.
sms_attempts = sa.Table(
    "sms_attempts",
    metadata,
    sa.Column("attempt_id", sa.String(limits.SMS_ATTEMPT_ID), primary_key=True),
    sa.Column("verification_call_uuid", sa.String(limits.VERIFICATION_CALL_UUID), nullable=False),
    sa.Column("attempt_no", sa.Integer, nullable=False),
    sa.Column("claim", sa.Integer, nullable=False),
    # No foreign key: an attempt outlives the deletion of its provider.
    sa.Column("provider_id", sa.Integer, nullable=False),
    sa.Column("provider_name", sa.String(limits.SMS_PROVIDER), nullable=False),
    sa.Column("provider_type", sa.String(limits.PROVIDER_TYPE), nullable=False),
    sa.Column("state", sa.String(limits.SMS_ATTEMPT_STATE), nullable=False),
    sa.Column("provider_message_id", sa.String(limits.SMS_MESSAGE_ID)),
    sa.Column("error", sa.String(limits.SMS_ERROR)),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("send_round", sa.Integer, nullable=False, server_default="1"),
    sa.Column("delivery", sa.String(limits.SMS_DELIVERY)),
    sa.Column("delivery_status", sa.String(limits.SMS_DELIVERY_STATUS)),
    sa.Column("delivery_error_code", sa.String(limits.SMS_DELIVERY_ERROR_CODE)),
    sa.Column("delivery_updated_at", UtcDateTime()),
    sa.UniqueConstraint("verification_call_uuid", "attempt_no"),
    sa.Index("ix_sms_attempts_provider_message", "provider_id", "provider_message_id"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("event_id", sa.String(limits.EVENT_ID), primary_key=True),
    sa.Column("routing_key", sa.String(limits.ROUTING_KEY), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("correlation_id", sa.String(limits.REQUEST_ID)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("published_at", UtcDateTime()),
    # A sweep publishing the event holds it until then; other sweeps skip it meanwhile.
    sa.Column("claimed_until", UtcDateTime()),
    sa.Index(
        "ix_outbox_unpublished",
        "created_at",
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    ),
)

bitrix24_portals = sa.Table(
    "bitrix24_portals",
    metadata,
    sa.Column("member_id", sa.String(limits.MEMBER_ID), primary_key=True),
    # Only the SHA-256 of the application token is kept; requests are checked against it.
    sa.Column("token_sha256", sa.String(limits.TOKEN_SHA256), nullable=False),
    sa.Column("domain", sa.String(limits.DOMAIN)),
    sa.Column("source", sa.String(limits.PORTAL_SOURCE), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

method_confirmations = sa.Table(
    "method_confirmations",
    metadata,
    sa.Column("member_id", sa.String(limits.MEMBER_ID), primary_key=True),
    sa.Column("token_sha256", sa.String(limits.TOKEN_SHA256), primary_key=True),
    sa.Column("method", sa.String(limits.METHOD), primary_key=True),
    sa.Column("status", sa.String(limits.CONFIRMATION_STATUS), nullable=False),
    sa.Column("domain", sa.String(limits.DOMAIN)),
    sa.Column("language_id", sa.String(limits.LANGUAGE_ID)),
    sa.Column("source_ts", sa.BigInteger),
    sa.Column("decided_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# B2Core-style SMS providers. Secret options (Password fields) live only in
# secrets_encrypted, a Fernet token of their JSON; options_json never holds a secret.
# sqlite_autoincrement: a deleted id is never reused, so a stale id cannot reach a new row.
confirmation_providers = sa.Table(
    "confirmation_providers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(limits.NAME), nullable=False),
    sa.Column("caption", sa.String(limits.CAPTION), nullable=False),
    sa.Column("provider", sa.String(limits.PROVIDER_TYPE), nullable=False),
    sa.Column("is_enabled", sa.Boolean, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("options_json", sa.Text, nullable=False),
    sa.Column("secrets_encrypted", sa.LargeBinary),
    sa.Column("resources_json", sa.Text, nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

confirmation_templates = sa.Table(
    "confirmation_templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(limits.NAME), nullable=False),
    sa.Column("caption", sa.String(limits.CAPTION), nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("is_enabled", sa.Boolean, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("resources_json", sa.Text, nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

# API keys: only the SHA-256 of each key is kept (keys are 256 random bits, so a plain hash
# cannot be reversed, and it can be looked up); scopes are a comma-separated list.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(limits.API_KEY_ID), primary_key=True),
    sa.Column("name", sa.String(limits.API_KEY_NAME), nullable=False),
    sa.Column("scopes", sa.String(limits.API_KEY_SCOPES), nullable=False),
    sa.Column("key_sha256", sa.String(limits.KEY_SHA256), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
