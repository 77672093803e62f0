"""The form parser reads what PHP's own ``parse_str`` reads: a differential test against ``php``.

Bitrix24 builds its bodies with PHP's ``http_build_query``. Hypothesis makes up nested
structures, PHP encodes them, and the receiver's reading (``parse_form`` then
``nest_php_form``, as ``POST /webhooks/bitrix24`` does) must equal ``parse_str``'s; raw bodies
built by hand, which no ``http_build_query`` emits, are held to the same. PHP runs as one
long-lived process (tests/receiver/php.py).

Where the receiver differs from PHP it does so on purpose, and :func:`expected_reading`
says each difference in one place (the tests at the end show each against PHP):

1. A body that is not UTF-8, or a field that does not decode to UTF-8, is refused (400);
   PHP keeps the bytes.
2. More than ``MAX_FORM_FIELDS`` fields are refused (413); PHP reads the first
   ``max_input_vars`` (1,000) and warns.
3. A key nested deeper than ``DEFAULT_MAX_DEPTH`` bracket groups refuses the body (422); PHP
   at that ``max_input_nesting_level`` drops the variable and reads on (its default is 64).
   The oracle runs with our limit, so PHP itself says when a body crosses it.
4. The top level is always an object: ``0=a&1=b`` is ``{"0": "a", "1": "b"}``, where
   ``json_encode`` would make a list of it; an event is an object.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient
from hypothesis import event, given, settings
from hypothesis import strategies as st

from confirmhub.broker import BITRIX24_QUEUE
from confirmhub.redact import sha256_hex
from receiver.body import MAX_FORM_FIELDS, parse_form
from receiver.errors import BadRequest, InvalidPayload, PayloadTooLarge
from receiver.webhooks.php_form import DEFAULT_MAX_DEPTH, nest_php_form
from tests.conftest import PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID
from tests.helpers import FIXTURES, body_of, take_all
from tests.receiver.php import Php, PhpMissing, PhpReading, PhpValue

Reading = dict[str, Any] | type[Exception]


def _start(ini: dict[str, str | int]) -> Php:
    try:
        return Php(ini)
    except PhpMissing as exc:
        # Never a skip: without php this whole safety net would silently vanish.
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def php() -> Iterator[Php]:
    """PHP with the receiver's nesting limit, so that it says when a body crosses it."""
    oracle = _start({"max_input_nesting_level": DEFAULT_MAX_DEPTH})
    yield oracle
    oracle.close()


@pytest.fixture(scope="module")
def stock_php() -> Iterator[Php]:
    """PHP with its built-in defaults, as Bitrix24's own PHP reads."""
    oracle = _start({})
    yield oracle
    oracle.close()


def receiver_reads(body: bytes) -> Reading:
    """What ``POST /webhooks/bitrix24`` reads from a form body, or the error it answers."""
    try:
        return nest_php_form(parse_form(body, charset=None))
    except (BadRequest, InvalidPayload, PayloadTooLarge) as exc:
        return type(exc)


def _decodes(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _fields_decode(body: bytes) -> bool:
    for field in body.split(b"&"):
        name, _, value = field.partition(b"=")
        for part in (name, value):
            if not _decodes(unquote_to_bytes(part.replace(b"+", b" "))):
                return False
    return True


def expected_reading(body: bytes, php: PhpReading) -> Reading:
    """PHP's reading of ``body`` with the receiver's four deliberate differences applied
    (the module docstring), in the order the receiver meets them."""
    if not _decodes(body):
        return BadRequest  # 1: the body is not UTF-8
    if body.count(b"&") + 1 > MAX_FORM_FIELDS:
        return PayloadTooLarge  # 2: too many fields
    if not _fields_decode(body):
        return BadRequest  # 1: a field does not decode to UTF-8
    if php.nesting_exceeded:
        return InvalidPayload  # 3: nested deeper than the limit
    assert php.read.is_text()
    return php.read.as_object()  # 4: the top level stays an object


def ordered(value: Any) -> Any:
    """``value`` with each object as its list of pairs: equal only in the same order."""
    if isinstance(value, dict):
        return {"object": [(key, ordered(child)) for key, child in value.items()]}
    if isinstance(value, list):
        return [ordered(child) for child in value]
    return value


def assert_reads_like_php(body: bytes, php: PhpReading) -> str:
    """The receiver's reading of ``body`` is PHP's, but for the stated differences; which
    outcome it was (for hypothesis's statistics)."""
    ours = receiver_reads(body)
    expected = expected_reading(body, php)
    assert ordered(ours) == ordered(expected), f"body {body!r}"
    return ours.__name__ if isinstance(ours, type) else "read as PHP reads"


# Keys that PHP treats specially: integers (canonical or not, up to and past 64 bits),
# bracket and separator characters, spaces and dots (mangled at the top level), NUL.
_SPECIAL_KEYS = [
    *("event", "data", "auth", "TOKEN", "member_id", "a", "b"),
    *("0", "1", "2", "3", "10", "-1", "-0", "01", " 1", "1 ", "+1", "1e3", "0x1"),
    *("9223372036854775806", "9223372036854775807", "9223372036854775808"),
    *("-9223372036854775808", "-9223372036854775809"),
    *("", " ", ".", "_", "a.b", "a b", " a", "a ", "\t", "[", "]", "[]", "][", "a[b", "a]b"),
    *("a[b]", "[a]", "+", "%", "%41", "&", "=", "#", "\x00", "a\x00b"),
    *("é", "€", "Д", "𝄞", "e\u0301"),
]
_KEYS = st.one_of(
    st.sampled_from(_SPECIAL_KEYS),
    st.integers(-3, 12).map(str),
    st.text(max_size=6),
)
_SCALARS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", " ", "+", "%", "%20", "%zz", "a+b", "&", "=", "a=b&c", "[]", "\x00"]),
    st.sampled_from(["é", "€", "𝄞", "ONAPPMETHODCONFIRM", "voximplant.user.get"]),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.none(),  # http_build_query leaves these out
    st.floats(allow_nan=False, allow_infinity=False),
)
_BUSHES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),  # PHP lists: keys 0..n-1
        st.dictionaries(_KEYS, children, max_size=4),
    ),
    max_leaves=16,
)
# Deep and narrow, around the nesting limit: a bush seldom reaches it.
_CHAINS = st.builds(
    lambda keys, leaf: functools.reduce(lambda child, key: {key: child}, reversed(keys), leaf),
    st.lists(_KEYS, min_size=DEFAULT_MAX_DEPTH - 2, max_size=DEFAULT_MAX_DEPTH + 1),
    _SCALARS,
)
_TREES = st.one_of(_BUSHES, _BUSHES, _BUSHES, _CHAINS)
_PHP_VALUES = st.one_of(
    st.dictionaries(_KEYS, _TREES, max_size=6),
    st.lists(_TREES, max_size=4),
)


@settings(max_examples=1000, deadline=None)
@given(value=_PHP_VALUES)
def test_reads_what_parse_str_reads_from_http_build_query(php: Php, value: Any) -> None:
    body, reading = php.build_and_read(value)

    event(assert_reads_like_php(body, reading))


# Pieces of raw bodies: what http_build_query never emits as well as what it does —
# unescaped brackets, spaces and UTF-8, stray and bad escapes, empty fields, bare names.
_RAW_PIECES = st.sampled_from(
    [
        *(b"a", b"b", b"x", b"_", b"0", b"1", b"2", b"-1", b"-0", b"01"),
        *(b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808"),
        *(b"[", b"]", b"[]", b"][", b"[0]", b"[a]", b"=", b"&", b"&&", b"+", b".", b" "),
        *(b"\t", b"%", b"%4", b"%zz", b"%25", b"%5B", b"%5D", b"%5b", b"%5d", b"%20"),
        *(b"%09", b"%0A", b"%0B", b"%00", b"%2B", b"%26", b"%3D", b"%2E", b"%2e"),
        *(b"%C3%A9", b"%c3%a9", b"%E2%82%AC", b"%F0%9D%84%9E"),
        *(b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9d\x84\x9e"),
    ]
)
# Bytes that are not UTF-8, raw or escaped: the receiver refuses them (difference 1).
_NOT_UTF8 = st.sampled_from([b"%C3", b"%A9", b"%FF", b"\xc3", b"\xff"])
_RAW_TEXT_BODIES = st.lists(_RAW_PIECES, max_size=40).map(b"".join)
_RAW_BODIES = st.one_of(
    _RAW_TEXT_BODIES,
    _RAW_TEXT_BODIES,
    _RAW_TEXT_BODIES,
    st.lists(st.one_of(_RAW_PIECES, _NOT_UTF8), max_size=40).map(b"".join),
    st.binary(max_size=32),
)


@settings(max_examples=2000, deadline=None)
@given(body=_RAW_BODIES)
def test_reads_what_parse_str_reads_from_raw_bodies(php: Php, body: bytes) -> None:
    event(assert_reads_like_php(body, php.read(body)))


# Edge cases worth keeping whatever hypothesis happens to draw.
_EDGE_BODIES = [
    b"a.b=1&a b=2& c=3&+d=4&.=5",
    b"a[b=1&a[b.c d=2&a[x][y=3&a[][z=4",
    b"a[b]c=1&a[b]]=2&a[b[c]]=3&a]b=4&a[]x[]=5&a[[]=6&a[[b]]=7",
    b"a[ ]=1&a[%09]=2&a[%0A]=3&a[%20%20]=4&a[%20b]=5",
    b"a.b[c.d]=1&a+b[c+d][e.f]=2",
    b"=1&[a]=2&%20=3&%20[a]=4&[]=5",
    b"a%00b=1&c[d%00e]=2&f=g%00h",
    b"a[2]=1&a[]=2&b[-5]=1&b[-7]=2&b[]=3&c[-1]=1&c[]=2&d[-0]=1&d[]=2",
    b"a[9223372036854775806]=1&a[]=2&a[]=3&b[9223372036854775807]=1&b[][x]=2",
    b"a[-9223372036854775808]=1&a[]=2&b[-9223372036854775809]=1&b[]=2",
    b"a[9223372036854775808]=1&a[]=2&c[1000000000000000000]=1&c[]=2",
    b"a=1&a[]=2&b[]=1&b=2&c[d]=1&c[d][e]=2&f[g][h]=1&f[g]=2",
    b"a[0]=1&a[0][b]=2&c[][b]=1&c[0][d]=2&e[1]=x&e[0]=y&e[1]=z",
    b"0=a&1=b&2=c&x=1&1=d",
    b"a&b=&c==&=d&&&e=f=g",
    b"a[1][2][3][4][5]=x&b[1][2][3][4][5][6]=y",
    b"a[1][2][3][4][5][6=x",
    b"a=%&b=%4&c=%zz&d=%25&e=+%2B+",
    b"a[%C3%A9]=%E2%82%AC&%C3%A9=\xc3\xa9",
    b"a=%FF",
    b"a=\xc3%A9",
]


@pytest.mark.parametrize("body", _EDGE_BODIES, ids=repr)
def test_reads_edge_cases_as_parse_str_does(php: Php, body: bytes) -> None:
    assert_reads_like_php(body, php.read(body))


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("bitrix24_*.form")))
def test_reads_the_bitrix24_samples_as_parse_str_does(php: Php, name: str) -> None:
    body = (FIXTURES / name).read_bytes().strip()
    reading = php.read(body)

    assert reading.warnings == ()
    assert ordered(receiver_reads(body)) == ordered(reading.read.as_json())


# Each deliberate difference, shown against PHP with its stock settings.


def test_bytes_that_are_not_utf8_are_refused_where_php_keeps_them(stock_php: Php) -> None:
    for body, php_reads in [(b"a=%FF", b"\xff"), (b"a=\xc3%A9", "é".encode())]:
        assert stock_php.read(body).read == PhpValue(((b"a", PhpValue(php_reads)),))
        assert receiver_reads(body) is BadRequest


def test_more_fields_than_the_limit_are_refused_where_php_reads_them(stock_php: Php) -> None:
    body = b"&".join(b"f%d=x" % index for index in range(MAX_FORM_FIELDS + 1))
    reading = stock_php.read(body)

    assert len(reading.read.as_object()) == MAX_FORM_FIELDS + 1
    assert reading.warnings == ()
    assert receiver_reads(body) is PayloadTooLarge


def test_deeper_keys_are_refused_where_php_reads_them(stock_php: Php, php: Php) -> None:
    body = b"event=E&data[1][2][3][4][5][6]=x"

    assert stock_php.read(body).read.as_object() == {
        "event": "E",
        "data": {"1": {"2": {"3": {"4": {"5": {"6": "x"}}}}}},
    }
    at_our_limit = php.read(body)
    assert at_our_limit.nesting_exceeded
    assert at_our_limit.read.as_object() == {"event": "E"}
    assert receiver_reads(body) is InvalidPayload


def test_top_level_integer_keys_stay_an_object(stock_php: Php) -> None:
    body = b"0=a&1=b"

    assert stock_php.read(body).read.as_json() == ["a", "b"]
    assert receiver_reads(body) == {"0": "a", "1": "b"}


def _method_confirm_event(*, domain: str, language: str) -> dict[str, Any]:
    """``ONAPPMETHODCONFIRM`` as Bitrix24's PHP holds it before ``http_build_query``."""
    return {
        "event": "ONAPPMETHODCONFIRM",
        "event_handler_id": 12,
        "data": {
            "TOKEN": "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6",
            "METHOD": "voximplant.user.get",
            "CONFIRMED": 1,
            "LANGUAGE_ID": language,
        },
        "ts": 1478790852,
        "auth": {
            "domain": domain,
            "client_endpoint": f"https://{domain}/rest/",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "member_id": PORTAL_MEMBER_ID,
            "application_token": PORTAL_APPLICATION_TOKEN,
        },
    }


@pytest.mark.parametrize(
    ("domain", "language"), [("example.bitrix24.com", "en"), ("пример.bitrix24.ru", "ru")]
)
async def test_an_event_php_builds_is_queued_as_php_reads_it(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    php: Php,
    domain: str,
    language: str,
) -> None:
    body, reading = php.build_and_read(_method_confirm_event(domain=domain, language=language))
    php_read = reading.read.as_object()

    response = await client.post(
        "/webhooks/bitrix24",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status == 202, await response.text()
    [message] = await take_all(channel, BITRIX24_QUEUE)
    queued = body_of(message)
    assert queued["member_id"] == php_read["auth"]["member_id"]
    assert queued["domain"] == php_read["auth"]["domain"] == domain
    assert queued["method"] == php_read["data"]["METHOD"]
    assert queued["language_id"] == php_read["data"]["LANGUAGE_ID"] == language
    assert queued["token_sha256"] == sha256_hex(php_read["data"]["TOKEN"])
    assert queued["confirmed"] is (php_read["data"]["CONFIRMED"] == "1")
    assert queued["source_ts"] == int(php_read["ts"])
