# ruff: noqa: RUF001, RUF002, RUF003 - the Cyrillic letters are the subject, not look-alikes
"""Ordering names the way a reader expects: numbers by value, case ignored, Cyrillic in alphabet order.

A plain string order puts "Customer 10" before "Customer 2", "ann" after "Zoe" and the Ukrainian
letters і, ї, є and ґ after я (Unicode gives them code points past the Russian alphabet). The key
built here is text compared as text: case-folded, with accents set aside (é beside e), Cyrillic
letters placed by one order that serves Ukrainian and Russian alike (… г ґ д е ё є ж … и і ї й …
щ ъ ы ь э ю я), and each number written so that it compares by value. Ties between texts that
differ only in case, accents or leading zeros are broken by the text itself, so the order is
total and the same on every page. Keys for a whole list are made in one pass of string
operations over all its texts: per-text Python work is what makes sorting 25,000 names slow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

_DIGITS = re.compile(r"\d+")
_ACCENTS = re.compile("[\u0300-\u036f]")
"""The combining diacritical marks that decomposition splits off Latin letters (é is e and U+0301)."""

_LAST: Final = "\uffff"
# Unicode orders а…я (U+0430–U+044F) as the Russian alphabet; the letters it places elsewhere are
# written as the letter they follow plus marks that sort after every letter: ґ after г, ё and є
# after е, і and ї after и. й is rewritten too, after ї, or decomposition would make it и.
_CYRILLIC: Final = (
    ("ґ", "г" + _LAST),
    ("ё", "е" + _LAST),
    ("є", "е" + _LAST * 2),
    ("і", "и" + _LAST),
    ("ї", "и" + _LAST * 2),
    ("й", "и" + _LAST * 3),
)
_NUMBER: Final = "\x01"
"""Starts a number in a key: below every letter and space, so "a1" sorts before "a b" and "ab"."""
_TIE: Final = "\x00"
"""Separates the key from the text it was made of, which breaks ties."""
_SEPARATOR: Final = "\n"


def _number(match: re.Match[str]) -> str:
    # Its length, then its digits: a longer number is larger, equal lengths compare digit by digit.
    digits = str(int(match[0]))
    return f"{_NUMBER}{chr(0x21 + len(digits))}{digits}"


def _keys(joined: str) -> str:
    folded = joined.casefold()
    if not folded.isascii():
        for letter, written in _CYRILLIC:
            folded = folded.replace(letter, written)
        folded = _ACCENTS.sub("", unicodedata.normalize("NFKD", folded))
    return _DIGITS.sub(_number, folded)


def natural_keys(texts: Sequence[str]) -> list[str]:
    """The sort keys of ``texts``, made in one pass over all of them (it is a page's hot path).

    A key is plain text, compared as text: the letters case-folded and set in order, each number
    as its length and digits, then the text itself as the tie-break.
    """
    keys = _keys(_SEPARATOR.join(texts)).split(_SEPARATOR)
    if len(keys) != len(texts):
        # A text with a line break of its own: made one by one instead.
        keys = [_keys(text) for text in texts]
    return [f"{key}{_TIE}{text}" for key, text in zip(keys, texts, strict=True)]


def natural_key(text: str) -> str:
    """Sort key of one text (see :func:`natural_keys`)."""
    return natural_keys([text])[0]
