"""What a schema accepts, its column stores: every stored field's bound, on both backends.

PostgreSQL refuses a ``varchar(n)`` value one character too long and SQLite does not, so a
schema wider than its column is a webhook answered 202 and then refused for ever, on one
backend only. Each schema field is compared with its column in ``confirmhub.db.tables`` and
in the live, migrated database; the live database is compared with ``tables`` as a whole
(Alembic's own comparison, and PostgreSQL's ``information_schema``), so a migration that
disagrees with the table definitions fails here too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, get_args

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.codes import hash_code
from confirmhub.db import verification
from confirmhub.db.api_keys import KEY_PREFIX
from confirmhub.db.bitrix24 import PortalSource
from confirmhub.db.call_requests import SettledState
from confirmhub.db.engine import create_engine
from confirmhub.db.idempotency import KeyState
from confirmhub.db.rate_limits import Bucket
from confirmhub.db.sms_attempts import AttemptState
from confirmhub.db.tables import (
    HOLDING_STATES,
    api_keys,
    bitrix24_portals,
    confirmation_providers,
    confirmation_templates,
    metadata,
    method_confirmations,
    outbox,
    password_call_requests,
    password_calls,
    sms_attempts,
)
from confirmhub.guards import Rate
from confirmhub.redact import sha256_hex
from confirmhub.sms import Delivery
from receiver.api.call_guards import CALL_KEY, CALL_NUMBER
from receiver.callers import ADMIN_TOKEN_KEY_ID
from schemas import limits
from schemas.api import VerificationStatus
from schemas.api_keys import SCOPES, ApiKeyCreate
from schemas.bitrix24 import (
    Bitrix24Auth,
    InboundMethodConfirm,
    MethodConfirmationRegistration,
    MethodConfirmationStatus,
)
from schemas.confirmations import ProviderCreate, ProviderPatch, TemplateCreate, TemplatePatch
from schemas.events import CallOutcome, EventEnvelope
from schemas.inbound import InboundCdr
from schemas.mcn import McnPasswordCallResponse, PasswordCallCdr, PasswordCallRequest
from schemas.provider_settings import PROVIDER_TYPES
from schemas.sms_receipts import (
    SmsAeroCallback,
    SmsAeroStatus,
    TwilioStatusCallback,
    VonageDeliveryReceipt,
)
from worker.sms_limits import SMS_NUMBER


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


# (schema, field, table, column): the field's value is stored in that column as it is.
STORED_FIELDS: list[tuple[type[BaseModel], str, sa.Table, str]] = [
    (PasswordCallCdr, "verification_call_uuid", password_calls, "verification_call_uuid"),
    (McnPasswordCallResponse, "verification_call_uuid", password_calls, "verification_call_uuid"),
    # Either part of a verification_call_uuid may be nearly all of it.
    (PasswordCallCdr, "verification_call_uuid", password_calls, "call_id"),
    (PasswordCallCdr, "verification_call_uuid", password_calls, "account_id"),
    (McnPasswordCallResponse, "verification_call_uuid", password_calls, "call_id"),
    (McnPasswordCallResponse, "verification_call_uuid", password_calls, "account_id"),
    (PasswordCallCdr, "final_status", password_calls, "final_status"),
    (PasswordCallRequest, "phone_number", password_calls, "phone_number"),
    (PasswordCallRequest, "locale", password_calls, "locale"),
    # A request holds the number without its "+", so never longer than the call's.
    (PasswordCallRequest, "phone_number", password_call_requests, "phone_number"),
    (
        McnPasswordCallResponse,
        "verification_call_uuid",
        password_call_requests,
        "verification_call_uuid",
    ),
    # The fallback SMS records the provider by its name.
    (ProviderCreate, "name", password_calls, "sms_provider"),
    (ProviderPatch, "name", password_calls, "sms_provider"),
    (ProviderCreate, "name", sms_attempts, "provider_name"),
    (PasswordCallCdr, "verification_call_uuid", sms_attempts, "verification_call_uuid"),
    (InboundCdr, "request_id", outbox, "correlation_id"),
    (InboundMethodConfirm, "request_id", outbox, "correlation_id"),
    (EventEnvelope, "type", outbox, "routing_key"),
    # Delivery receipts (fields by their wire names): the message id they name, and the
    # provider's status word and error code.
    (TwilioStatusCallback, "MessageSid", sms_attempts, "provider_message_id"),
    (TwilioStatusCallback, "MessageStatus", sms_attempts, "delivery_status"),
    (TwilioStatusCallback, "ErrorCode", sms_attempts, "delivery_error_code"),
    (VonageDeliveryReceipt, "messageId", sms_attempts, "provider_message_id"),
    (VonageDeliveryReceipt, "status", sms_attempts, "delivery_status"),
    (VonageDeliveryReceipt, "err-code", sms_attempts, "delivery_error_code"),
    (SmsAeroCallback, "id", sms_attempts, "provider_message_id"),
    (SmsAeroStatus, "extendStatus", sms_attempts, "delivery_status"),
    (Bitrix24Auth, "member_id", bitrix24_portals, "member_id"),
    (Bitrix24Auth, "domain", bitrix24_portals, "domain"),
    (InboundMethodConfirm, "token_sha256", bitrix24_portals, "token_sha256"),
    (InboundMethodConfirm, "member_id", method_confirmations, "member_id"),
    (InboundMethodConfirm, "token_sha256", method_confirmations, "token_sha256"),
    (InboundMethodConfirm, "method", method_confirmations, "method"),
    (InboundMethodConfirm, "domain", method_confirmations, "domain"),
    (InboundMethodConfirm, "language_id", method_confirmations, "language_id"),
    (MethodConfirmationRegistration, "member_id", method_confirmations, "member_id"),
    (MethodConfirmationRegistration, "method", method_confirmations, "method"),
    (ProviderCreate, "name", confirmation_providers, "name"),
    (ProviderCreate, "caption", confirmation_providers, "caption"),
    (ProviderPatch, "name", confirmation_providers, "name"),
    (ProviderPatch, "caption", confirmation_providers, "caption"),
    (TemplateCreate, "name", confirmation_templates, "name"),
    (TemplateCreate, "caption", confirmation_templates, "caption"),
    (TemplatePatch, "name", confirmation_templates, "name"),
    (TemplatePatch, "caption", confirmation_templates, "caption"),
    (ApiKeyCreate, "name", api_keys, "name"),
]

# (schema, field, table, column) for numbers: the schema's maximum fits the column's type.
STORED_NUMBERS: list[tuple[type[BaseModel], str, sa.Table, str]] = [
    (PasswordCallCdr, "q931_status", password_calls, "q931_status"),
    (InboundMethodConfirm, "source_ts", method_confirmations, "source_ts"),
    (ProviderCreate, "priority", confirmation_providers, "priority"),
    (ProviderPatch, "priority", confirmation_providers, "priority"),
    (TemplateCreate, "priority", confirmation_templates, "priority"),
    (TemplatePatch, "priority", confirmation_templates, "priority"),
]


def _own_values() -> dict[tuple[str, str], list[str]]:
    """Columns holding values of our own making, with every value they can take."""
    return {
        ("password_calls", "outcome"): [outcome.value for outcome in CallOutcome],
        ("password_calls", "verification_status"): list(get_args(VerificationStatus)),
        ("password_calls", "sms_status"): [
            "queued",
            "sending",
            *get_args(verification.SmsOutcome),
            verification.SMS_CANCELED,
        ],
        ("password_calls", "code_hash"): [hash_code("0000")],
        ("method_confirmations", "status"): list(get_args(MethodConfirmationStatus)),
        ("bitrix24_portals", "source"): list(get_args(PortalSource)),
        ("confirmation_providers", "provider"): list(PROVIDER_TYPES),
        ("outbox", "event_id"): [str(uuid.uuid4())],
        ("password_call_requests", "id"): [str(uuid.uuid4())],
        ("password_call_requests", "state"): [
            *HOLDING_STATES,
            *get_args(SettledState),
            "lapsed",
        ],
        ("password_call_requests", "key_id"): [ADMIN_TOKEN_KEY_ID, str(uuid.uuid4())],
        ("api_keys", "id"): [str(uuid.uuid4())],
        ("idempotency_keys", "key_id"): [ADMIN_TOKEN_KEY_ID, str(uuid.uuid4())],
        ("idempotency_keys", "fingerprint"): [sha256_hex("")],
        ("idempotency_keys", "state"): list(get_args(KeyState)),
        ("idempotency_keys", "content_type"): [
            "application/json; charset=utf-8",
            "application/problem+json",
        ],
        # The Location of a call: its path, with the longest call id.
        ("idempotency_keys", "location"): [
            "/api/v1/password-calls/" + "9" * limits.VERIFICATION_CALL_UUID
        ],
        ("rate_buckets", "kind"): [
            Bucket(name, "", Rate(999_999_999, 999_999_999)).kind
            for name in (CALL_NUMBER, CALL_KEY, SMS_NUMBER)
        ],
        ("rate_buckets", "subject"): ["9" * limits.PHONE_NUMBER, str(uuid.uuid4())],
        ("sms_attempts", "attempt_id"): [str(uuid.uuid4())],
        ("sms_attempts", "state"): list(get_args(AttemptState)),
        ("sms_attempts", "provider_type"): list(PROVIDER_TYPES),
        ("sms_attempts", "delivery"): [delivery.value for delivery in Delivery],
        ("api_keys", "scopes"): [",".join(SCOPES)],
        ("api_keys", "key_sha256"): [sha256_hex(KEY_PREFIX)],
    }


# Values read from outside without a schema: an SMS provider's answer (its error is cut to
# the column where it is stored; its message id is not bounded yet), and the Idempotency-Key
# header (to be bounded by limits.IDEMPOTENCY_KEY where it is read).
FROM_OUTSIDE = {
    ("password_calls", "sms_message_id"),
    ("password_calls", "sms_error"),
    ("sms_attempts", "provider_message_id"),
    ("sms_attempts", "error"),
    ("password_call_requests", "idempotency_key"),
    ("idempotency_keys", "idempotency_key"),
}

_TYPE_MAX: dict[type[Any], int] = {sa.Integer: limits.INTEGER_MAX, sa.BigInteger: limits.BIGINT_MAX}


def _length(column: sa.Column[Any]) -> int:
    """A string column's declared length."""
    assert isinstance(column.type, sa.String)
    assert column.type.length is not None, column
    return column.type.length


def _bounds(model: type[BaseModel], field: str, key: str) -> set[int]:
    """Every ``key`` bound (``maxLength``, ``maximum``) on the field's JSON schema, null aside."""
    schema = model.model_json_schema(mode="validation")["properties"][field]
    options = schema.get("anyOf", [schema])
    found = {option[key] for option in options if key in option}
    found |= {option["le"] for option in options if key == "maximum" and "le" in option}
    if any(option.get("type") != "null" and key not in option for option in options):
        found.add(-1)  # an unbounded alternative: never equal to a column's length
    return found


async def _live_lengths(engine: AsyncEngine) -> dict[tuple[str, str], int | None]:
    """Each column's declared length in the database itself (None: not a string type)."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = await connection.execute(
                sa.text(
                    "SELECT table_name, column_name, character_maximum_length "
                    "FROM information_schema.columns WHERE table_schema = current_schema()"
                )
            )
            return {(table, column): length for table, column, length in rows}

        def reflect(sync: sa.Connection) -> dict[tuple[str, str], int | None]:
            inspector = sa.inspect(sync)
            return {
                (table, column["name"]): getattr(column["type"], "length", None)
                for table in inspector.get_table_names()
                for column in inspector.get_columns(table)
            }

        return await connection.run_sync(reflect)


async def test_every_stored_field_is_bounded_as_its_column(engine: AsyncEngine) -> None:
    live = await _live_lengths(engine)
    for model, field, table, column in STORED_FIELDS:
        declared = _length(table.c[column])
        where = f"{model.__name__}.{field} -> {table.name}.{column}"
        assert _bounds(model, field, "maxLength") == {declared}, where
        assert live[(table.name, column)] == declared, where


def test_every_stored_number_fits_its_column() -> None:
    for model, field, table, column in STORED_NUMBERS:
        bounds = _bounds(model, field, "maximum")
        column_max = _TYPE_MAX[type(table.c[column].type)]
        assert bounds, f"{model.__name__}.{field} has no maximum"
        assert max(bounds) <= column_max, f"{model.__name__}.{field} -> {table.name}.{column}"


async def test_every_value_of_our_own_fits_its_column(engine: AsyncEngine) -> None:
    live = await _live_lengths(engine)
    for (table, column), values in _own_values().items():
        length = _length(metadata.tables[table].c[column])
        assert live[(table, column)] == length, (table, column)
        too_long = [value for value in values if len(value) > length]
        assert not too_long, (table, column, too_long)


def test_every_string_column_is_checked() -> None:
    """A column added without a check here fails, until its source of values is named."""
    checked = {(table.name, column) for _, _, table, column in STORED_FIELDS}
    checked |= set(_own_values()) | FROM_OUTSIDE
    bounded = {
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.String) and column.type.length is not None
    }
    assert sorted(bounded - checked) == []
    assert sorted(checked - bounded) == []


def _diff(sync: sa.Connection, target: sa.MetaData) -> list[tuple[Any, ...]]:
    """Alembic's differences between the database and ``target``, one tuple each (it groups
    a column's changes in a list)."""
    context = MigrationContext.configure(
        sync, opts={"compare_type": True, "compare_server_default": True}
    )
    changes = compare_metadata(context, target)
    return [
        part for change in changes for part in (change if isinstance(change, list) else [change])
    ]


async def test_migrated_database_matches_the_table_definitions(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff, metadata) == []


async def test_information_schema_matches_the_table_definitions(postgres_url: str) -> None:
    """PostgreSQL's own catalogue, read without SQLAlchemy's reflection, against ``tables``."""
    engine = create_engine(postgres_url)
    try:
        live = await _live_lengths(engine)
    finally:
        await engine.dispose()
    declared = {
        (table.name, column.name): getattr(column.type, "length", None)
        for table in metadata.sorted_tables
        for column in table.columns
    }
    assert {key: live.get(key) for key in declared} == declared


async def test_a_definition_the_migrations_disagree_with_is_caught(engine: AsyncEngine) -> None:
    """The comparison above can fail: a column declared wider than migrated is reported."""
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["password_calls"].c["account_id"].type = sa.String(limits.ACCOUNT_ID * 2)
    async with engine.connect() as connection:
        diff = await connection.run_sync(_diff, drifted)
    assert [(change[0], change[2], change[3]) for change in diff] == [
        ("modify_type", "password_calls", "account_id")
    ]


async def test_the_longest_provider_name_is_recorded_on_the_call(engine: AsyncEngine) -> None:
    """A provider's name may be 128 characters; the fallback SMS records it on the call
    (PostgreSQL refused it at 65, so the SMS stayed "sending" and was sent again)."""
    name = "p" * limits.NAME
    now = dt.datetime.now(dt.UTC)
    uuid_ = "c" * 40 + "_" + "7" * (limits.VERIFICATION_CALL_UUID - 41)
    async with engine.begin() as connection:
        await connection.execute(
            password_calls.insert().values(
                verification_call_uuid=uuid_,
                call_id=uuid_.rpartition("_")[0],
                account_id=uuid_.rpartition("_")[2],
                phone_number="+421222202004",
                created_at=now,
                updated_at=now,
                sms_status="queued",
                sms_updated_at=now,
            )
        )
        claimed = await verification.claim_sms(
            connection, uuid_, now=now, lease=dt.timedelta(minutes=2)
        )
        assert claimed is not None
        finished = await verification.finish_sms(
            connection,
            uuid_,
            claim=claimed.sms_claim,
            outcome="sent",
            provider=name,
            provider_message_id="m" * limits.SMS_MESSAGE_ID,
            error="e" * (limits.SMS_ERROR * 2),
            now=now,
        )
    assert finished is not None
    assert (finished.sms_status, finished.sms_provider) == ("sent", name)
    assert finished.account_id == "7" * (limits.VERIFICATION_CALL_UUID - 41)
