"""The packed member names: the same set whatever Google sends, read from the answer's bytes."""

from __future__ import annotations

import json
import random
import tracemalloc
from typing import Any

import orjson
import pytest

from app.google.member_names import MEMBERS_KEY, MemberNames, parse_group_answer


def _names(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [f"people/c{rng.randrange(2**64)}" for _ in range(count)]


def _answer(names: Any, **extra: Any) -> bytes:
    body = {"resourceName": "contactGroups/abc", "etag": "e", "name": "GroupSync", MEMBERS_KEY: names}
    body.update(extra)
    return orjson.dumps(body)


def test_a_packed_set_holds_exactly_the_names_given_in_any_order() -> None:
    names = _names(5000)
    members = MemberNames.of(names)
    assert members == set(names)
    assert len(members) == len(names)
    assert sorted(members) == sorted(names)
    assert all(name in members for name in names)
    assert not any(name in members for name in _names(200, seed=8))


@pytest.mark.parametrize(
    "odd",
    [
        "people/c007",  # a leading zero: another name than people/c7
        "people/c18446744073709551616",  # 2**64: past what is packed
        "people/c\u0661\u0662",  # Arabic-Indic digits are digits to str.isdigit, not to Google
        "people/me",
        "contactGroups/myContacts",
        "",
    ],
)
def test_names_google_does_not_write_are_kept_as_they_are_and_never_confused(odd: str) -> None:
    members = MemberNames.of(["people/c7", odd, "people/c18446744073709551615"])
    assert odd in members
    assert "people/c7" in members
    assert "people/c18446744073709551615" in members
    assert members == {"people/c7", odd, "people/c18446744073709551615"}
    assert "people/c07" not in members
    assert "people/c18446744073709551614" not in members
    assert 7 not in members


def test_repeated_names_count_once() -> None:
    members = MemberNames.of(["people/c2", "people/c1", "people/c2"])
    assert len(members) == 2
    assert members == {"people/c1", "people/c2"}


def test_set_operations_give_plain_sets() -> None:
    members = MemberNames.of(["people/c1", "people/c2", "people/c3"])
    difference = members - {"people/c2": None}.keys()
    assert difference == frozenset({"people/c1", "people/c3"})
    assert isinstance(difference, frozenset)


@pytest.mark.parametrize("shuffled", [False, True])
def test_an_answer_is_read_with_its_members_packed(shuffled: bool) -> None:
    names = sorted(_names(3000), key=lambda n: int(n[8:]))
    if shuffled:
        random.Random(1).shuffle(names)
    content = _answer(names, memberCount=len(names), clientData=[{"key": "k", "value": "v"}])
    body = parse_group_answer(content)
    assert body is not None
    assert isinstance(body[MEMBERS_KEY], MemberNames)
    assert body[MEMBERS_KEY] == set(names)
    whole = json.loads(content)
    del whole[MEMBERS_KEY], body[MEMBERS_KEY]
    assert body == whole


def test_an_answer_with_spaces_and_an_empty_list_is_read_too() -> None:
    body = parse_group_answer(b'{ "name" : "x" ,\n "memberResourceNames" : [ \n ] , "memberCount": 0 }')
    assert body == {"name": "x", MEMBERS_KEY: set(), "memberCount": 0}
    spaced = b'{"memberResourceNames": [ "people/c1" ,\n  "people/c20" ], "name": "]"}'
    assert parse_group_answer(spaced) == {MEMBERS_KEY: {"people/c1", "people/c20"}, "name": "]"}


@pytest.mark.parametrize(
    "content",
    [
        # The list holds a name Google would not write so: the caller parses it whole.
        _answer(["people/c1", "people/c01"]),
        _answer(["people/c1", "people/c18446744073709551616"]),
        _answer(["people/c1", 5]),
        # The key's text ending a key, or in an object within.
        b'{"x\\"memberResourceNames": ["people/c9"], "name": "n"}',
        b'{"a": {"memberResourceNames": ["people/c9"]}}',
        # Twice, as no answer of Google's is.
        b'{"memberResourceNames": ["people/c1"], "memberResourceNames": ["people/c9"]}',
        b'{"memberResourceNames": "people/c1"}',
        b"not json",
        b'{"memberResourceNames": ["people/c1"',
    ],
)
def test_an_answer_not_shaped_as_google_writes_it_is_left_to_the_whole_parser(content: bytes) -> None:
    assert parse_group_answer(content) is None


def test_the_keys_text_inside_a_string_is_not_taken_for_the_key() -> None:
    body = parse_group_answer(_answer(["people/c1"], name='"memberResourceNames":["people/c9"]'))
    assert body is not None
    assert body[MEMBERS_KEY] == {"people/c1"}
    assert body["name"] == '"memberResourceNames":["people/c9"]'


def test_a_nested_list_under_the_key_is_not_taken_for_the_members() -> None:
    content = b'{"a": {"memberResourceNames": ["people/c9"]}, "memberResourceNames": ["people/c1"]}'
    assert parse_group_answer(content) is None
    assert MemberNames.of(json.loads(content)[MEMBERS_KEY]) == {"people/c1"}


def test_reading_25000_members_holds_a_fraction_of_what_strings_would() -> None:
    names = _names(25_000)
    content = _answer(names)
    tracemalloc.start()
    try:
        body = parse_group_answer(content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body is not None
    assert len(body[MEMBERS_KEY]) == 25_000
    tracemalloc.start()
    try:
        as_strings = frozenset(json.loads(content)[MEMBERS_KEY])
        _, strings_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(as_strings) == 25_000
    # Eight bytes a member, twice while Google's order is sorted; strings take over 100.
    assert peak < 25_000 * 20 < strings_peak / 4
