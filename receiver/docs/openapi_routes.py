"""The OpenAPI route table of the webhooks, the ``/api/v1`` API, probes and the docs.

Each operation's ``access`` is the one declaration of who may call it (see ``receiver.access``).
"""

from __future__ import annotations

from receiver.docs.openapi_table import (
    BITRIX24_KEY,
    BODY_ERRORS,
    CALLS_KEY,
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    LOCATION,
    MCN_WEBHOOK,
    PUBLIC,
    Body,
    Operation,
    Reply,
    json_body,
    path_param,
    reads,
    type_schema,
    writes,
)
from schemas import limits
from schemas.api import CodeCheckResult, PasswordCallView, WebhookAccepted
from schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyView, KeyId
from schemas.bitrix24 import (
    Bitrix24Envelope,
    InstallEvent,
    MemberId,
    MethodConfirmationRegistration,
    MethodConfirmationView,
    MethodConfirmEvent,
    MethodName,
    PortalTokenBody,
    TokenSha256,
)
from schemas.mcn import CodeCheckRequest, PasswordCallCdr, PasswordCallRequest, VerificationCallUuid
from schemas.plain_responses import Ignored, Liveness, PortalRegistered, PortalSaved, Readiness

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_CDR = reads(PasswordCallCdr)
_BITRIX24_EVENT = {
    "anyOf": [reads(MethodConfirmEvent), reads(InstallEvent), reads(Bitrix24Envelope)]
}
_ACCEPTED = Reply("Accepted and durable (a duplicate delivery too).", writes(WebhookAccepted))

_UUID = path_param(
    "verification_call_uuid",
    type_schema(VerificationCallUuid),
    "`<call id>_<account id>`, as MCN names the call.",
)
_EXTRAS_BOUND = (
    f"Extra fields may nest {limits.EXTRA_DEPTH} levels deep and take "
    f"{limits.EXTRAS_BYTES} bytes as JSON per object; past either, `422` names the limit."
)
_MEMBER_ID = path_param("member_id", type_schema(MemberId), "The portal's `member_id`.")

WEBHOOKS = (
    Operation(
        "post",
        "/webhooks/mcn/password-call",
        "receive_cdr",
        "Receive MCN password-call CDRs",
        "webhooks",
        {202: _ACCEPTED},
        errors=(401, *BODY_ERRORS, 503),
        access=MCN_WEBHOOK,
        body=Body(
            {JSON: {"oneOf": [_CDR, {"type": "array", "items": _CDR, "minItems": 1}]}, FORM: _CDR},
            "One CDR, or a non-empty array of CDRs, as the webhook's Request Body template "
            "lists them: numbers may be strings, `verification_uuid` is accepted for "
            "`verification_call_uuid`, and extra fields are kept. " + _EXTRAS_BOUND,
        ),
        description="Each CDR is queued with a publisher confirm before the `202`; a `503` "
        "(with `Retry-After`) means nothing is guaranteed durable and the sender should retry.",
    ),
    Operation(
        "post",
        "/webhooks/bitrix24",
        "receive_event",
        "Receive a Bitrix24 event",
        "webhooks",
        {
            200: Reply(
                "Authentic but needs no action, or a portal registered from `ONAPPINSTALL`.",
                {"anyOf": [writes(Ignored), writes(PortalRegistered)]},
            ),
            202: _ACCEPTED,
        },
        errors=(*BODY_ERRORS, 401, 503),
        access=PUBLIC,
        body=Body(
            {FORM: _BITRIX24_EVENT, JSON: _BITRIX24_EVENT},
            "A form with PHP bracket keys (`data[TOKEN]=…&auth[member_id]=…`), or the same "
            "structure as JSON. `ONAPPMETHODCONFIRM` is queued; other events are ignored. "
            "Unknown keys (at the top, in `data`, in `auth`) are ignored. " + _EXTRAS_BOUND,
            deep_objects={FORM: ("data", "auth")},
        ),
        description="Authenticated by `auth[application_token]`, which must be the one "
        "registered for `auth[member_id]` (Bitrix24 signs nothing and never retries).",
    ),
)

PASSWORD_CALLS = (
    Operation(
        "post",
        "/api/v1/password-calls",
        "create_password_call",
        "Place a password call through MCN",
        "password calls",
        {
            201: Reply(
                "The call, now `calling` (or, with `Idempotent-Replayed: true`, the answer to "
                "the first request with the same Idempotency-Key).",
                writes(PasswordCallView),
                headers={"Location": LOCATION, "Idempotent-Replayed": IDEMPOTENT_REPLAYED},
            )
        },
        errors=(*BODY_ERRORS, 403, 409, 429, 502, 503),
        access=CALLS_KEY,
        params=(IDEMPOTENCY_KEY,),
        body=json_body(reads(PasswordCallRequest), "MCN's own fields, plus an SMS `locale`."),
        description="Checked before MCN is asked, so a refused request costs nothing: the "
        "Idempotency-Key (see the header); `403` `country-not-allowed` for a number outside "
        "`CONFIRMHUB_CALL_COUNTRIES`; `409` `live-call` while a call to the number awaits its "
        "CDR (the problem's `verification_call_uuid` names it); `429` `call-limit-per-number` "
        "or `call-limit-per-key` with `Retry-After` (`CONFIRMHUB_CALL_LIMITS_PER_NUMBER`, "
        "`CONFIRMHUB_CALL_LIMITS_PER_KEY`). "
        "Each call is paid for, so it is placed at most once: the request is "
        "recorded before MCN is asked, and holds its number while its outcome is unknown. "
        "A request for a held number gets `409` (`call-in-doubt`) and MCN is not asked; the "
        "hold ends once the request is settled, or `CONFIRMHUB_CDR_TIMEOUT_SECONDS` after it "
        "began. `502` `upstream-error`: MCN refused or was not reached, no call was placed. "
        "`502` `mcn-answer-lost`: MCN's answer was lost (timeout, dropped connection, 5xx, "
        "no call id), a call may exist, and the number is held. `503` `call-not-recorded`: "
        "MCN placed the call (named in `detail`) but the database could not record it; the "
        "number is held. Other `503`s: nothing was asked of MCN; retry.",
    ),
    Operation(
        "get",
        "/api/v1/password-calls/{verification_call_uuid}",
        "get_password_call",
        "A password call's state and outcome",
        "password calls",
        {200: Reply("The call.", writes(PasswordCallView))},
        errors=(404, 503),
        access=CALLS_KEY,
        params=(_UUID,),
    ),
    Operation(
        "post",
        "/api/v1/password-calls/{verification_call_uuid}/check",
        "check_code",
        "Check the code a user entered",
        "password calls",
        {200: Reply("Whether the code matched, and what is left.", writes(CodeCheckResult))},
        errors=(*BODY_ERRORS, 404, 409, 503),
        access=CALLS_KEY,
        params=(_UUID,),
        body=json_body(reads(CodeCheckRequest)),
    ),
    Operation(
        "post",
        "/api/v1/password-calls/{verification_call_uuid}/cancel",
        "cancel_password_call",
        "Cancel a verification",
        "password calls",
        {
            200: Reply(
                "The call, now `canceled` (or, with `Idempotent-Replayed: true`, the answer to "
                "the first request with the same Idempotency-Key).",
                writes(PasswordCallView),
                headers={"Idempotent-Replayed": IDEMPOTENT_REPLAYED},
            )
        },
        errors=(400, 404, 409, 422, 503),
        access=CALLS_KEY,
        params=(_UUID, IDEMPOTENCY_KEY),
        description="Ends the verification as `canceled`: its code no longer checks (a check "
        "answers `valid: false`, status `canceled`), a queued SMS fallback is dropped and none "
        "is sent afterwards, and `password_call.canceled` is published once. A CDR that "
        "arrives later is stored but publishes no outcome and sends nothing. Canceling again "
        "answers the same `200`. `409` `verification-approved`: the code was approved already.",
    ),
)

BITRIX24 = (
    Operation(
        "put",
        "/api/v1/method-confirmations",
        "register_method_confirmation",
        "Record that a call got METHOD_CONFIRM_WAITING",
        "bitrix24",
        {200: Reply("The confirmation's state.", writes(MethodConfirmationView))},
        errors=(*BODY_ERRORS, 503),
        access=BITRIX24_KEY,
        body=json_body(reads(MethodConfirmationRegistration)),
    ),
    Operation(
        "get",
        "/api/v1/method-confirmations/{member_id}/{token_sha256}/{method}",
        "get_method_confirmation",
        "A method confirmation's state",
        "bitrix24",
        {200: Reply("The confirmation's state.", writes(MethodConfirmationView))},
        errors=(404, 503),
        access=BITRIX24_KEY,
        params=(
            _MEMBER_ID,
            path_param(
                "token_sha256", type_schema(TokenSha256), "Hex SHA-256 of the access token."
            ),
            path_param("method", type_schema(MethodName), "The REST method, any case."),
        ),
    ),
    Operation(
        "put",
        "/api/v1/bitrix24/portals/{member_id}",
        "put_portal",
        "Add a portal or rotate its application token",
        "bitrix24",
        {200: Reply("Saved.", writes(PortalSaved))},
        errors=(*BODY_ERRORS, 404, 503),
        params=(_MEMBER_ID,),
        body=json_body(reads(PortalTokenBody)),
    ),
    Operation(
        "delete",
        "/api/v1/bitrix24/portals/{member_id}",
        "delete_portal",
        "Forget a portal",
        "bitrix24",
        {204: Reply("Forgotten; its events are refused from now on.")},
        errors=(404, 503),
        params=(_MEMBER_ID,),
    ),
)

API_KEYS = (
    Operation(
        "post",
        "/api/v1/api-keys",
        "create_api_key",
        "Make an API key with scopes",
        "api keys",
        {
            201: Reply(
                "The new key: `key` is shown this once, and stored only as a hash.",
                writes(ApiKeyCreated),
            )
        },
        errors=(*BODY_ERRORS, 503),
        body=json_body(reads(ApiKeyCreate)),
    ),
    Operation(
        "get",
        "/api/v1/api-keys",
        "list_api_keys",
        "List the API keys (never the keys themselves)",
        "api keys",
        {
            200: Reply(
                "Every stored key, oldest first.", {"type": "array", "items": writes(ApiKeyView)}
            )
        },
        errors=(503,),
        description="`CONFIRMHUB_ADMIN_TOKEN` is not listed: it lives in the configuration.",
    ),
    Operation(
        "delete",
        "/api/v1/api-keys/{id}",
        "delete_api_key",
        "Delete an API key",
        "api keys",
        {204: Reply("Deleted: refused by every receiver within 2 seconds.")},
        errors=(404, 503),
        params=(path_param("id", type_schema(KeyId), "The key's id."),),
    ),
)

_ANY_OBJECT = {"type": "object"}

PROBES_AND_DOCS = (
    Operation(
        "get",
        "/healthz",
        "healthz",
        "Liveness",
        "probes",
        {200: Reply("The process is alive.", writes(Liveness))},
        access=PUBLIC,
    ),
    Operation(
        "get",
        "/readyz",
        "readyz",
        "Readiness: broker connected, database reachable and migrated",
        "probes",
        {
            200: Reply("Ready.", writes(Readiness)),
            503: Reply("Not ready; `checks` says why.", writes(Readiness)),
        },
        access=PUBLIC,
    ),
    Operation(
        "get",
        "/metrics",
        "metrics",
        "Prometheus metrics",
        "probes",
        {200: Reply("Text exposition format.", {"type": "string"}, media_type="text/plain")},
        access=PUBLIC,
    ),
    Operation(
        "get",
        "/api/openapi.json",
        "openapi_json",
        "This OpenAPI document",
        "docs",
        {200: Reply("OpenAPI 3.1.", _ANY_OBJECT)},
        access=PUBLIC,
    ),
    Operation(
        "get",
        "/api/asyncapi.json",
        "asyncapi_json",
        "The AsyncAPI document of the downstream events",
        "docs",
        {200: Reply("AsyncAPI 3.0.", _ANY_OBJECT)},
        access=PUBLIC,
    ),
    Operation(
        "get",
        "/api/docs",
        "docs_page",
        "Both documents as one browsable page",
        "docs",
        {200: Reply("A self-contained HTML page.", {"type": "string"}, media_type="text/html")},
        access=PUBLIC,
    ),
)

ROUTES = (*WEBHOOKS, *PASSWORD_CALLS, *BITRIX24, *API_KEYS, *PROBES_AND_DOCS)
