"""Fake SMS providers as real HTTP apps on loopback, speaking each provider's own wire format.

Each fake checks credentials and required fields the way the real API does and answers with
the real error shape, records every request, can be told to fail the next N requests with a
given answer (or with a broken one: cut off mid-body, or endless), and can be slowed down
past a client's timeout. Like the real one, each posts delivery receipts (``report``) to the
URL a send asked for, in its own callback format, signed as it signs them
(tests/sms_callbacks.py); ``proxy`` maps the public URL it was given to where the service
really listens, as a reverse proxy would.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web
from pydantic import SecretStr

from tests import sms_callbacks

TWILIO_ACCOUNT_SID = "AC" + "3f0c9a2b" * 4
TWILIO_AUTH_TOKEN = "twilio-auth-token-7d21"
VONAGE_API_KEY = "a1b2c3d4"
VONAGE_API_SECRET = "vonage-api-secret-58ef"
VONAGE_SIGNATURE_SECRET = "vonage-signature-secret-3b7a"
SMSAERO_EMAIL = "ops@example.com"
SMSAERO_API_KEY = "smsaero-api-key-0c4b"

# Twilio's documented magic test numbers and what its API answers for them.
TWILIO_MAGIC_NUMBERS = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number +15005550009 is not a valid mobile number"),
}
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


def _plus_e164(number: str) -> bool:
    return number.startswith("+") and _E164_DIGITS.fullmatch(number[1:]) is not None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return None
    return (login, password) if colon else None


def _json_answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _scripted(status: int, body: Any) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return web.json_response(body, status=status)

    return answer


def _cut_off(status: int) -> Answer:
    """``status`` and the start of a JSON body, then the connection drops."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'{"sid": "SM')
        assert request.transport is not None
        request.transport.close()
        return response

    return answer


def _endless(status: int) -> Answer:
    """``status`` and a JSON body that never ends, until the client hangs up."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(b'{"padding": "')
            while True:
                await response.write(b"x" * 65536)
        except (ConnectionError, RuntimeError):  # the client went away
            return response

    return answer


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the provider received it."""

    fields: dict[str, Any]
    auth: tuple[str, str] | None
    content_type: str
    query: dict[str, str]


@dataclass
class FakeProvider:
    """What every fake shares: recorded requests, scripted failures and an answer delay."""

    provider_type: ClassVar[str]
    path: ClassVar[str]
    url: str = ""
    delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    # Message id → the receipt URL its send asked for; (public base, real base) of a proxy.
    receipt_urls: dict[str, str] = field(default_factory=dict)
    proxy: tuple[str, str] | None = None
    _script: deque[Answer] = field(default_factory=deque)

    def _proxied(self, url: str) -> str:
        """Where a request to the public ``url`` really goes."""
        if self.proxy is not None and url.startswith(self.proxy[0]):
            return self.proxy[1] + url[len(self.proxy[0]) :]
        return url

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        return app

    def fail_next(self, count: int, status: int, body: Any = None) -> None:
        """Answer the next ``count`` requests with ``status`` and ``body`` (JSON, or str as is)."""
        self._script.extend([_scripted(status, body)] * count)

    def cut_off_next(self, count: int, status: int) -> None:
        """Answer the next ``count`` requests with ``status``, then drop the connection
        halfway through the body (the request is taken, its answer lost)."""
        self._script.extend([_cut_off(status)] * count)

    def flood_next(self, count: int, status: int) -> None:
        """Answer the next ``count`` requests with ``status`` and a body that never ends."""
        self._script.extend([_endless(status)] * count)

    def sender_options(self) -> dict[str, Any]:
        """The ``build_sender`` options that reach this fake with valid credentials."""
        raise NotImplementedError

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        """What the real provider answers to ``recorded``."""
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fields: dict[str, Any] = {}
        if request.content_type == "application/json":
            body = await request.json()
            fields = dict(body) if isinstance(body, dict) else {}
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            fields = {key: str(value) for key, value in (await request.post()).items()}
        auth = _basic_credentials(request.headers.get("Authorization", ""))
        recorded = RecordedRequest(fields, auth, request.content_type, dict(request.query))
        self.requests.append(recorded)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._script:
            return await self._answer(request, recorded)
        return await self._script.popleft()(request)


def twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    """Twilio's error answer: ``status`` and its JSON body."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return status, {"code": code, "message": message, "more_info": more_info, "status": status}


@dataclass
class FakeTwilio(FakeProvider):
    """Twilio's Messages API: basic auth, form fields To/From/Body, 201 with a Message."""

    provider_type = "Twilio"
    path = "/2010-04-01/Accounts/{sid}/Messages.json"
    account_sid: str = TWILIO_ACCOUNT_SID
    auth_token: str = TWILIO_AUTH_TOKEN
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (status, error code) to report before answering the send, and what the service said.
    report_before_answer: tuple[str, str | None] | None = None
    early_reports: list[int] = field(default_factory=list)

    async def report(
        self,
        sid: str,
        status: str,
        error_code: str | None = None,
        *,
        signature: str | None = "valid",
        url: str | None = None,
    ) -> int:
        """Post the StatusCallback of message ``sid`` as Twilio does, signed with the auth
        token over the URL the send gave (``signature``: None for none, any other text sent
        as it is); the status the service answered."""
        given = url or self.receipt_urls[sid]
        message = self.messages[sid]
        fields = sms_callbacks.twilio_status_callback(
            sid=sid,
            account_sid=self.account_sid,
            to=message["To"],
            sender=message["From"],
            status=status,
            error_code=error_code,
        )
        if signature == "valid":
            signature = sms_callbacks.twilio_signature(self.auth_token, given, fields)
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        return await sms_callbacks.post(self._proxied(given), form=fields, headers=headers)

    def sender_options(self) -> dict[str, Any]:
        """Valid options, with a numeric sender the adapter must prefix with "+"."""
        return {
            "api_sid": self.account_sid,
            "api_secret": self.auth_token,
            "from": "15005550006",
            "base_url": self.url,
        }

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        if recorded.auth != (self.account_sid, self.auth_token) or (
            request.match_info["sid"] != self.account_sid
        ):
            return _json_answer(*twilio_error(401, 20003, "Authenticate"))
        refusal = self._refusal(recorded.fields)
        if refusal is not None:
            return _json_answer(*refusal)
        sid = "SM" + secrets.token_hex(16)
        self.sent_ids.append(sid)
        self.messages[sid] = recorded.fields
        if recorded.fields.get("StatusCallback"):
            self.receipt_urls[sid] = recorded.fields["StatusCallback"]
            if self.report_before_answer is not None:
                # A receipt can overtake the answer to the send it reports on.
                self.early_reports.append(await self.report(sid, *self.report_before_answer))
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": recorded.fields["To"],
            "from": recorded.fields["From"],
            "body": recorded.fields["Body"],
            "status": "queued",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(message, status=201)

    @staticmethod
    def _refusal(fields: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The 400 the real API gives for these fields, in its order of checks."""
        to, sender, body = fields.get("To"), fields.get("From"), fields.get("Body")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if not _plus_e164(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (_plus_e164(sender) or _ALPHANUMERIC_SENDER.fullmatch(sender)):
            return twilio_error(400, 21212, f"The 'From' number {sender} is not a valid sender.")
        if to in TWILIO_MAGIC_NUMBERS:
            return twilio_error(400, *TWILIO_MAGIC_NUMBERS[to])
        return None


def vonage_rejection(status: str, error_text: str, to: str | None = None) -> dict[str, Any]:
    """Vonage's 200 answer for a message refused with per-message ``status``."""
    message = {"status": status, "error-text": error_text}
    return {"message-count": "1", "messages": [message if to is None else {"to": to, **message}]}


@dataclass
class FakeVonage(FakeProvider):
    """Vonage's SMS API: credentials and fields in the body (or query), per-message statuses."""

    provider_type = "Vonage"
    path = "/sms/json"
    api_key: str = VONAGE_API_KEY
    api_secret: str = VONAGE_API_SECRET
    signature_secret: str = VONAGE_SIGNATURE_SECRET
    signature_method: str = "md5hash"
    # Message id → (to, from, client-ref) of its send.
    messages: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)

    async def report(
        self,
        message_id: str,
        status: str,
        err_code: str = "0",
        *,
        as_json: bool = False,
        signed_with: str | None = "valid",
    ) -> int:
        """Post the DLR of ``message_id`` as Vonage does (a form, or JSON for "POST-JSON"),
        signed by ``signature_method`` with the signature secret (``signed_with``: None for
        unsigned, another secret to sign with it); the status the service answered."""
        to, sender, client_ref = self.messages[message_id]
        dlr = sms_callbacks.vonage_dlr(
            message_id=message_id,
            to=to,
            sender=sender,
            api_key=self.api_key,
            status=status,
            err_code=err_code,
            client_ref=client_ref,
        )
        if signed_with is not None:
            secret = self.signature_secret if signed_with == "valid" else signed_with
            dlr["sig"] = sms_callbacks.vonage_signature(secret, self.signature_method, dlr)
        url = self._proxied(self.receipt_urls[message_id])
        if as_json:
            return await sms_callbacks.post(url, json=dlr)
        return await sms_callbacks.post(url, form=list(dlr.items()))

    # Trial accounts may only text numbers they registered; None means any number.
    whitelist: set[str] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(0x0A00000012345678))

    def sender_options(self) -> dict[str, Any]:
        """Valid options, the secret already wrapped as settings hand it over."""
        secret = SecretStr(self.api_secret)
        return {
            "api_key": self.api_key,
            "api_secret": secret,
            "from": "ConfirmHub",
            "base_url": self.url,
            "signature_secret": SecretStr(self.signature_secret),
            "signature_method": self.signature_method,
        }

    def reject_next(self, count: int, status: str, error_text: str) -> None:
        """Refuse the next ``count`` messages with a per-message ``status`` (HTTP 200)."""
        self.fail_next(count, 200, vonage_rejection(status, error_text))

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        # Like the real API, parameters are taken from the query string too.
        fields = {**recorded.query, **recorded.fields}
        refusal = self._refusal(fields)
        if refusal is not None:
            return web.json_response(vonage_rejection(*refusal, to=fields.get("to")))
        unicode = fields.get("type") == "unicode"
        single, per_part = (70, 67) if unicode else (160, 153)
        text = str(fields["text"])
        parts = 1 if len(text) <= single else -(-len(text) // per_part)
        messages = [
            {
                "to": fields["to"],
                "message-id": f"{next(self._ids):016X}",
                "status": "0",
                "remaining-balance": "3.14159265",
                "message-price": "0.03330000",
                "network": "25001",
            }
            for _ in range(parts)
        ]
        self.sent_ids.extend(message["message-id"] for message in messages)
        first = messages[0]["message-id"]
        self.messages[first] = (str(fields["to"]), str(fields["from"]), fields.get("client-ref"))
        if fields.get("callback"):
            self.receipt_urls[first] = str(fields["callback"])
        return web.json_response({"message-count": str(parts), "messages": messages})

    def _refusal(self, fields: dict[str, Any]) -> tuple[str, str] | None:
        """The per-message status and error-text the real API gives for these fields."""
        for key in ("api_key", "api_secret", "from", "to", "text"):
            if not fields.get(key):
                return "2", f"Missing {key}" if key.startswith("api") else f"Missing {key} param"
        if (fields["api_key"], fields["api_secret"]) != (self.api_key, self.api_secret):
            return "4", "Bad Credentials"
        if fields.get("type", "text") not in ("text", "unicode", "binary"):
            return "3", "Invalid Message type"
        if not _E164_DIGITS.fullmatch(str(fields["to"])):
            return "3", "Invalid to number"
        if self.whitelist is not None and fields["to"] not in self.whitelist:
            return "29", "Non-Whitelisted Destination"
        return None


def smsaero_failure(message: str) -> dict[str, Any]:
    """SMSAero's body for a refused request."""
    return {"success": False, "data": None, "message": message}


@dataclass
class FakeSmsAero(FakeProvider):
    """SMSAero's v2 API: basic auth with e-mail and API key, number/text/sign parameters."""

    provider_type = "SMSAero"
    path = "/v2/sms/send"
    email: str = SMSAERO_EMAIL
    api_key: str = SMSAERO_API_KEY
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(190000001))
    # Message id → its status as the status API tells it; the ids the status API was asked.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_requests: list[str] = field(default_factory=list)
    status_api_down: bool = False

    def app(self) -> web.Application:
        """The send API and the status API."""
        app = super().app()
        app.router.add_post("/v2/sms/status", self._status)
        return app

    def set_status(self, message_id: str, status: int, extend_status: str) -> None:
        """What the status API answers for ``message_id`` from now on."""
        self.statuses[message_id].update(status=status, extendStatus=extend_status)

    async def report(self, message_id: str, status: int, extend_status: str) -> int:
        """Post the status callback of ``message_id`` (unsigned, as SMSAero's are), claiming
        ``status``; the status the service answered."""
        body = {**self.statuses[message_id], "status": status, "extendStatus": extend_status}
        body.pop("text", None)
        return await sms_callbacks.post(self._proxied(self.receipt_urls[message_id]), json=body)

    async def _status(self, request: web.Request) -> web.Response:
        if self.status_api_down:
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if _basic_credentials(request.headers.get("Authorization", "")) != (
            self.email,
            self.api_key,
        ):
            return _json_answer(401, smsaero_failure("Unauthorized"))
        wanted = str((await request.json()).get("id"))
        self.status_requests.append(wanted)
        if wanted not in self.statuses:
            return _json_answer(404, smsaero_failure("Not found"))
        return web.json_response({"success": True, "data": self.statuses[wanted], "message": None})

    def sender_options(self) -> dict[str, Any]:
        """Valid options, leaving ``sign`` to its default."""
        return {"email": self.email, "api_key": self.api_key, "base_url": self.url}

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        if recorded.auth != (self.email, self.api_key):
            return _json_answer(401, smsaero_failure("Unauthorized"))
        fields = {**recorded.query, **recorded.fields}
        number, text, sign = (str(fields.get(key) or "") for key in ("number", "text", "sign"))
        if not (text and sign and _E164_DIGITS.fullmatch(number)):
            return _json_answer(400, smsaero_failure("Validation error."))
        data = {
            "id": next(self._ids),
            "from": sign,
            "number": number,
            "text": text,
            "status": 8,
            "extendStatus": "moderation",
            "channel": "FREE SIGN",
            "cost": 4.49,
            "dateCreate": 1763805600,
            "dateSend": 1763805600,
        }
        self.sent_ids.append(str(data["id"]))
        self.statuses[str(data["id"])] = dict(data)
        if fields.get("callbackUrl"):
            self.receipt_urls[str(data["id"])] = str(fields["callbackUrl"])
        return web.json_response({"success": True, "data": data, "message": None})
