"""PHP bracket keys nest as ``json_encode($_POST)`` would; bad input ends in our own errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.body import parse_form
from receiver.errors import BadRequest, InvalidPayload, PayloadTooLarge
from receiver.webhooks.php_form import PhpKey, nest_php_form, split_php_key
from tests.helpers import fixture_bytes


def nest_query(query: str, **limits: int) -> dict[str, Any]:
    """Decode a query string as the receiver does, then nest it."""
    return nest_php_form(parse_qsl(query, keep_blank_values=True), **limits)


def test_granted_fixture_nests_data_and_auth() -> None:
    form = nest_query(fixture_bytes("bitrix24_onappmethodconfirm_granted.form").decode())

    assert form == {
        "event": "ONAPPMETHODCONFIRM",
        "event_handler_id": "12",
        "data": {
            "TOKEN": "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6",
            "METHOD": "voximplant.user.get",
            "CONFIRMED": "1",
            "LANGUAGE_ID": "en",
        },
        "ts": "1478790852",
        "auth": {
            "domain": "example.bitrix24.com",
            "client_endpoint": "https://example.bitrix24.com/rest/",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "member_id": "74ef8a46a75104de55d5d4a61b98ab6d",
            "application_token": "c289487163b58658eae5e8b42eaf11b8",
        },
    }


def test_install_fixture_keeps_every_auth_key() -> None:
    form = nest_query(fixture_bytes("bitrix24_onappinstall.form").decode())

    assert form["data"] == {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}
    assert form["auth"]["scope"] == "voximplant,user_brief"
    assert form["auth"]["expires_in"] == "3600"


def test_encoded_brackets_and_plus_decode_before_nesting() -> None:
    assert nest_query("data%5BLANGUAGE%20ID%5D=a+b%2Bc") == {"data": {"LANGUAGE ID": "a b+c"}}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a[b][c]=1&a[b][d]=2", {"a": {"b": {"c": "1", "d": "2"}}}),
        ("a[]=1&a[]=2", {"a": ["1", "2"]}),
        ("a[0]=1&a[1]=2", {"a": ["1", "2"]}),
        ("a[1]=1&a[0]=2", {"a": {"1": "1", "0": "2"}}),
        ("a[5]=1&a[]=2", {"a": {"5": "1", "6": "2"}}),
        ("a[x]=1&a[]=2", {"a": {"x": "1", "0": "2"}}),
        ("a[01]=1&a[]=2", {"a": {"01": "1", "0": "2"}}),
        ("a[-3]=1&a[]=2", {"a": {"-3": "1", "-2": "2"}}),
        ("a[-1]=1&a[]=2", {"a": {"-1": "1", "0": "2"}}),
        ("a[-0]=1&a[]=2", {"a": {"-0": "1", "0": "2"}}),
        ("a[ ]=1&a[]=2", {"a": ["1", "2"]}),
        ("a[ b]=1", {"a": {" b": "1"}}),
        (
            "a[9223372036854775806]=1&a[]=2",
            {"a": {"9223372036854775806": "1", "9223372036854775807": "2"}},
        ),
        ("a[9223372036854775807]=1&a[]=2", {"a": {"9223372036854775807": "1"}}),
        ("a[9223372036854775808]=1&a[]=2", {"a": {"9223372036854775808": "1", "0": "2"}}),
        ("a[][b]=1&a[][b]=2", {"a": [{"b": "1"}, {"b": "2"}]}),
        ("a[b]=", {"a": {"b": ""}}),
    ],
)
def test_bracket_keys_nest_like_php(query: str, expected: dict[str, Any]) -> None:
    assert nest_query(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&a[b]=2", {"a": {"b": "2"}}),
        ("a[b]=2&a=1", {"a": "1"}),
        ("a[b]=1&a[b][c]=2", {"a": {"b": {"c": "2"}}}),
        ("a[b][c]=2&a[b]=1", {"a": {"b": "1"}}),
        ("a=1&a[]=2", {"a": ["2"]}),
        ("a[b]=1&a[b]=2", {"a": {"b": "2"}}),
    ],
)
def test_conflicts_resolve_to_the_later_pair(query: str, expected: dict[str, Any]) -> None:
    assert nest_query(query) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a.b", {"a_b": "v"}),
        (" a b", {"a_b": "v"}),
        ("a.b[c.d]", {"a_b": {"c.d": "v"}}),
        ("a[b", {"a_b": "v"}),
        ("a[b.c d", {"a_b_c_d": "v"}),
        ("a[b][c", {"a": {"b": "v"}}),
        ("a]b", {"a]b": "v"}),
        ("a[b]c", {"a": {"b": "v"}}),
        ("a[b]]", {"a": {"b": "v"}}),
        ("a[b[c]]", {"a": {"b[c": "v"}}),
        ("a\x00b[c]", {"a": "v"}),
        ("]", {"]": "v"}),
    ],
)
def test_odd_keys_read_as_php_reads_them(key: str, expected: dict[str, Any]) -> None:
    assert nest_php_form([(key, "v")]) == expected


@pytest.mark.parametrize("key", ["", " ", "[", "[a]", "[]", "[a][b]", " [a]", "\x00a"])
def test_keys_without_a_name_are_skipped(key: str) -> None:
    assert nest_php_form([(key, "v"), ("b", "1")]) == {"b": "1"}


def test_nesting_up_to_max_depth_is_accepted() -> None:
    assert nest_query("a[1][2][3]=x", max_depth=3) == {"a": {"1": {"2": {"3": "x"}}}}


@pytest.mark.parametrize("query", ["a[1][2][3][4][5][6]=x", "a[1][2][3][4][5][6=x"])
def test_nesting_beyond_max_depth_is_invalid_payload(query: str) -> None:
    # An unfinished sixth group counts too: PHP's own limit counts the groups it opens.
    with pytest.raises(InvalidPayload) as caught:
        nest_query(query)

    assert caught.value.status == 422


def test_more_pairs_than_max_keys_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        nest_php_form([("a[]", "x")] * 3, max_keys=2)

    assert caught.value.status == 413


def test_huge_integer_index_stays_a_string_key() -> None:
    index = "9" * 5000

    assert nest_php_form([(f"a[{index}]", "x"), ("a[]", "y")]) == {"a": {index: "x", "0": "y"}}


def test_split_php_key() -> None:
    assert split_php_key("a[b][]") == PhpKey("a", ("b", None), 2)
    assert split_php_key("a") == PhpKey("a", (), 0)
    assert split_php_key("a[b") == PhpKey("a_b", (), 1)
    assert split_php_key("a[b][c") == PhpKey("a", ("b",), 2)
    assert split_php_key(" [b]") is None


_KEY_PARTS = st.sampled_from(["a", "b", "0", "1", "-1", "01", "[", "]", "[]", "[a]", "[0]", " "])
_KEYS = st.one_of(st.lists(_KEY_PARTS, max_size=12).map("".join), st.text(max_size=20))
_PAIRS = st.lists(st.tuples(_KEYS, st.text(max_size=5)), max_size=40)


def _is_json_shape(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(_is_json_shape(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_shape(v) for k, v in value.items())
    return False


@settings(max_examples=500)
@given(pairs=_PAIRS, max_depth=st.integers(0, 6), max_keys=st.integers(0, 50))
def test_any_input_nests_or_ends_in_a_receiver_error(
    pairs: list[tuple[str, str]], max_depth: int, max_keys: int
) -> None:
    try:
        nested = nest_php_form(pairs, max_depth=max_depth, max_keys=max_keys)
    except (InvalidPayload, PayloadTooLarge):
        return  # any other exception fails the test

    assert isinstance(nested, dict)
    assert _is_json_shape(nested)
    orjson.dumps(nested)


# Names of letters only are never PHP integer keys, so objects stay objects. PHP turns
# spaces and dots in a top-level name into "_", so those appear only below the top, and a
# lone blank segment appends, as "[]" does.
_NAMES = st.text(alphabet="abcXYZ _-.", min_size=1, max_size=4).filter(lambda name: name != " ")
_TOP_LEVEL_NAMES = st.text(alphabet="abcXYZ_-", min_size=1, max_size=4)
_VALUES = st.text(max_size=8)
_TREES = st.recursive(
    _VALUES,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.dictionaries(_NAMES, children, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


def _http_build_query(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Flatten as PHP's ``http_build_query`` does."""
    if isinstance(value, str):
        return [(prefix, value)]
    items = enumerate(value) if isinstance(value, list) else value.items()
    return [pair for key, child in items for pair in _http_build_query(f"{prefix}[{key}]", child)]


def _depth(value: Any) -> int:
    if isinstance(value, str):
        return 0
    children = value if isinstance(value, list) else list(value.values())
    return 1 + max(_depth(child) for child in children)


@given(form=st.dictionaries(_TOP_LEVEL_NAMES, _TREES, max_size=4))
def test_http_build_query_round_trips(form: dict[str, Any]) -> None:
    pairs = [pair for name, value in form.items() for pair in _http_build_query(name, value)]
    query = urlencode(pairs)

    depth = max((_depth(value) for value in form.values()), default=0)
    assert nest_query(query, max_depth=max(depth, 1)) == form


@given(
    st.lists(
        st.text(alphabet="ab=&%+2F5BE8x€ ", max_size=12).map(lambda text: text.encode()),
        max_size=6,
    ).map(b"".join)
)
@settings(max_examples=2000, deadline=None)
def test_parse_form_decodes_as_parse_qsl_does(body: bytes) -> None:
    # parse_form is a faster parse_qsl(keep_blank_values=True); any difference is a bug.
    try:
        expected: Any = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        expected = BadRequest
    try:
        got: Any = parse_form(body, charset=None)
    except BadRequest:
        got = BadRequest
    assert got == expected


def test_parse_form_refuses_too_many_fields() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_form(b"&".join([b"a=1"] * 513), charset=None)
