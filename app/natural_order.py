# ruff: noqa: RUF001, RUF002 - the Cyrillic letters are the subject, not look-alikes
"""Ordering names the way a reader expects: numbers by value, case ignored, Cyrillic in alphabet order.

A plain string order puts "Customer 10" before "Customer 2", "ann" after "Zoe" and the Ukrainian
letters і, ї, є and ґ after я (Unicode gives them code points past the Russian alphabet). The key
built here splits a text into letter runs and digit runs: digit runs compare as whole numbers,
letter runs case-folded, with accents set aside (é beside e) and Cyrillic letters placed by one
order that serves Ukrainian and Russian alike (… г ґ д е ё є ж … и і ї й … щ ъ ы ь э ю я).
Ties between texts that differ only in case, accents or leading zeros are broken by the text
itself, so the order is total and the same on every page.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_DIGITS = re.compile(r"(\d+)")
_ACCENTS = re.compile("[\u0300-\u036f]")
"""The combining diacritical marks that decomposition splits off Latin letters (é is e and U+0301)."""

_CYRILLIC_ORDER: Final = "абвгґдеёєжзиіїйклмнопрстуфхцчшщъыьэюя"
_PRIVATE_USE: Final = 0xE000
"""Cyrillic letters are mapped here, past every Latin letter and out of reach of decomposition,
which would otherwise turn й into и and ї into і."""
_CYRILLIC: Final = str.maketrans(
    {letter: chr(_PRIVATE_USE + rank) for rank, letter in enumerate(_CYRILLIC_ORDER)}
)

NaturalKey = tuple[tuple[str | int, ...], str]


def _letters(text: str) -> str:
    if text.isascii():
        return text.lower()
    mapped = text.casefold().translate(_CYRILLIC)
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", mapped))


def natural_key(text: str) -> NaturalKey:
    """Sort key of ``text``: letter runs and numbers alternate, so like is always compared with like."""
    parts = _DIGITS.split(text)
    # re.split with a group puts the digit runs at odd positions and (maybe empty) text at even ones.
    return tuple(int(part) if index % 2 else _letters(part) for index, part in enumerate(parts)), text
