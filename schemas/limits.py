"""Every size and depth limit on what confirmhub accepts and stores, in one place.

Each length here is read both by the schema that accepts a value and by the column (and the
migration) that stores it: a webhook answered 202 must never be refused later by the database.
PostgreSQL enforces ``varchar(n)`` and SQLite does not, which is how a mismatch once went
unseen. A pattern may accept less than its limit (a phone number has at most 16 characters);
a column never holds less. ``tests/test_stored_limits.py`` checks every stored field's schema
against its column, and the live database of both backends against ``confirmhub.db.tables``.

Lengths count characters (code points), as both ``max_length`` and ``varchar(n)`` do.
"""

from __future__ import annotations

# What the two integer column types hold: a number bound for one must stay within them.
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

# MCN password calls. Both parts of a verification_call_uuid are stored on their own, and
# either may be nearly all of it: an account part of 80 digits is a valid uuid too.
VERIFICATION_CALL_UUID = 128
CALL_ID = VERIFICATION_CALL_UUID
ACCOUNT_ID = VERIFICATION_CALL_UUID
PHONE_NUMBER = 32
FINAL_STATUS = 64
LOCALE = 16
CODE_HASH = 256
OUTCOME = 32
VERIFICATION_STATUS = 32
Q931_STATUS_MAX = 65535

# Requests to place a call, recorded before MCN is asked: an id of ours, the id of the API
# key that asked (or of the admin token), and the client's Idempotency-Key header.
CALL_REQUEST_ID = 36
CALL_REQUEST_STATE = 16
CALLER_KEY_ID = 64
IDEMPOTENCY_KEY = 255
# Idempotency keys kept 24 h: the SHA-256 (hex) of the request they were first sent with,
# their state, and the answer to replay (its content type and Location).
REQUEST_FINGERPRINT = 64
IDEMPOTENCY_STATE = 16
CONTENT_TYPE = 128
LOCATION = 512

# Rate limit buckets: the kind (what is counted, over which period) and the subject (a
# number's digits, or an API key's id).
RATE_BUCKET_KIND = 32
RATE_BUCKET_SUBJECT = 64

# API keys: a UUID, a name, the scopes joined by commas, and the key only as its SHA-256.
API_KEY_ID = 36
API_KEY_NAME = 128
API_KEY_SCOPES = 64
KEY_SHA256 = 64

# The SMS fallback's record on the call and of each request to a provider (an attempt). The
# provider is stored by its name; its message id and error are what its answer says.
SMS_STATUS = 16
SMS_ATTEMPT_ID = 36
SMS_ATTEMPT_STATE = 16
SMS_MESSAGE_ID = 128
SMS_ERROR = 500
# Delivery receipts on an attempt: our word for where it stands (pending, delivered,
# undelivered), and the provider's own status word and error code.
SMS_DELIVERY = 16
SMS_DELIVERY_STATUS = 32
SMS_DELIVERY_ERROR_CODE = 32

# Bitrix24 portals and method confirmations.
MEMBER_ID = 64
TOKEN = 256
TOKEN_SHA256 = 64
METHOD = 128
DOMAIN = 255
LANGUAGE_ID = 16
ENDPOINT = 2048
PORTAL_SOURCE = 16
CONFIRMATION_STATUS = 16

# Confirmation providers and templates (B2Core), and the fallback SMS's provider name.
NAME = 128
SMS_PROVIDER = NAME
CAPTION = 255
PROVIDER_TYPE = 32
TEMPLATE_TEXT = 1600
RESOURCE_KEY = 64
RESOURCE_VALUE = 4096
RESOURCES = 200

# The outbox of downstream events; its correlation id is the request id.
EVENT_ID = 36
ROUTING_KEY = 128
REQUEST_ID = 128

# Upstream payloads: what a sender may add beyond the fields we read. Extras travel in the
# queue message (CDRs keep theirs), so they are bounded well inside what the worker's JSON
# parser takes: pydantic stops at about 200 levels, and a message wraps an extra in 4.
EXTRA_DEPTH = 32
EXTRAS_BYTES = 16 * 1024
# Form bodies: fields in all, and ``[…]`` groups in one key (``data[a][b]`` has 2).
FORM_FIELDS = 512
FORM_KEY_DEPTH = 5
