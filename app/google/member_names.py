"""A group's member names, held packed: eight bytes a member instead of a string in a set.

``contactGroups.get`` answers with every member's resource name in one list, up to 25,000
of them. As Python strings in a set they cost about 150 bytes each, the one part of a run's
memory that grew with the list. Names of the form Google gives contacts (``people/c`` and a
decimal number below 2**64, written without leading zeros) are kept as numbers in a sorted
array, so membership is a binary search and every name comes back exactly as Google wrote it;
any other name is kept as it is, so the set means the same whatever Google sends.

:func:`parse_group_answer` reads such an answer without building the strings at all: the list
is scanned in the answer's bytes, and only the rest of the answer is parsed as JSON.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
from array import array
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

import orjson

MEMBERS_KEY = "memberResourceNames"
_PREFIX = "people/c"
_LIMIT = 2**64
_RUN = 4096
"""Numbers sorted at a time when Google's order is not already ascending (then merged)."""

_NUMBER = rb"(?:0|[1-9][0-9]{0,19})"
_KEY = re.compile(rb'"memberResourceNames"\s*:\s*\[')
# Possessive: a repeated group that may backtrack keeps state for every repetition (8 MiB for
# 25,000 names); the list's grammar never needs to give any back.
_LIST = re.compile(rb'\s*(?:"people/c' + _NUMBER + rb'"\s*(?:,\s*"people/c' + _NUMBER + rb'"\s*)*+)?+')
_DIGITS = re.compile(rb"[0-9]+")


def _number(name: str) -> int | None:
    """The contact number of a name Google would write exactly so; ``None`` for any other name."""
    if not name.startswith(_PREFIX):
        return None
    digits = name[len(_PREFIX) :]
    if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and digits != "0"):
        return None
    number = int(digits)
    return number if number < _LIMIT else None


def _ascending(numbers: array[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(numbers))


def _sorted_unique(numbers: array[int]) -> array[int]:
    """``numbers`` in ascending order without repeats, never holding them all as Python ints."""
    if _ascending(numbers):
        return numbers
    for start in range(0, len(numbers), _RUN):
        numbers[start : start + _RUN] = array("Q", sorted(numbers[start : start + _RUN]))
    view = memoryview(numbers)
    runs = [view[start : start + _RUN] for start in range(0, len(numbers), _RUN)]
    return array("Q", (value for value, _ in itertools.groupby(heapq.merge(*runs))))


class MemberNames(AbstractSet[str]):
    """An immutable set of resource names (compares equal to a ``set`` of the same names)."""

    __slots__ = ("_numbers", "_other")

    def __init__(self, numbers: array[int], other: frozenset[str] = frozenset()) -> None:
        """``numbers``: contact numbers, ascending without repeats (see :meth:`of`)."""
        self._numbers = numbers
        self._other = other

    @classmethod
    def of(cls, names: Iterable[str]) -> MemberNames:
        if isinstance(names, MemberNames):
            return names
        numbers: array[int] = array("Q")
        other: set[str] = set()
        for name in names:
            number = _number(name)
            if number is None:
                other.add(name)
            else:
                numbers.append(number)
        return cls(_sorted_unique(numbers), frozenset(other))

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> frozenset[Any]:
        # What the set operators return: small results (differences, intersections) as plain sets.
        return frozenset(it)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        number = _number(name)
        if number is None:
            return name in self._other
        numbers = self._numbers
        at = bisect.bisect_left(numbers, number)
        return at < len(numbers) and numbers[at] == number

    def __len__(self) -> int:
        return len(self._numbers) + len(self._other)

    def __iter__(self) -> Iterator[str]:
        for number in self._numbers:
            yield f"{_PREFIX}{number}"
        yield from self._other

    def __hash__(self) -> int:
        return self._hash()

    def __repr__(self) -> str:
        return f"MemberNames({len(self)} names)"


def parse_group_answer(content: bytes) -> dict[str, Any] | None:
    """A ``ContactGroup`` answer with its member list as :class:`MemberNames`, read from its bytes.

    ``None`` when the answer is not shaped so that the list can be read safely this way (then
    the caller parses it whole). The list must be the one value of the one top-level
    ``memberResourceNames`` key, and hold only names as Google writes contacts' names.
    """
    key = _KEY.search(content)
    if key is None or _KEY.search(content, key.end()) is not None:
        return None
    start = key.end()
    end = content.find(b"]", start)
    if end < 0 or _LIST.fullmatch(content, start, end) is None:
        return None
    try:
        body = orjson.loads(content[:start] + content[end:])
    except orjson.JSONDecodeError:
        return None
    # The key found in the bytes is the top-level one only if that is where the list was emptied.
    if not isinstance(body, dict) or body.get(MEMBERS_KEY) != []:
        return None
    try:
        numbers = array("Q", (int(m[0]) for m in _DIGITS.finditer(content, start, end)))
    except OverflowError:
        # Twenty digits reach past 2**64: such names are held as they are.
        return None
    body[MEMBERS_KEY] = MemberNames(_sorted_unique(numbers))
    return body
