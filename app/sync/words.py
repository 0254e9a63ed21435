"""The reader's words for what the mapping reports: a value Google could not hold, and its field.

:mod:`app.sync.mapping` records each value it could not carry as a field path and an English
reason (stored on the mapping row, the same for every reader). The pages show them in the
reader's language: the field by the name the CRM import uses for it, the reason by its message.
"""

from __future__ import annotations

import re

from flask_babel import get_locale

from app.contact_fields import CONTACT_FIELDS, FieldSpec
from app.extensions import gettext as _
from app.sync.mapping import NotCarried

_TOKEN = re.compile(r"[A-Za-z_]+")


def _spec_of(path: str) -> FieldSpec | None:
    """The CRM field behind a reported path: ``notes``, ``emails[0].value``, ``name.givenName``."""
    tokens = _TOKEN.findall(path)
    if not tokens:
        return None
    first, last = tokens[0], tokens[-1]
    for spec in CONTACT_FIELDS:
        if spec.name == first:
            return spec
    for spec in CONTACT_FIELDS:
        if spec.person_field.removesuffix("s") == first.removesuffix("s") and spec.person_key == last:
            return spec
    return None


def field_words(path: str) -> str:
    spec = _spec_of(path)
    if spec is None or not spec.csv:
        return path
    column = spec.csv[0]
    language = str(get_locale() or "en")[:2]
    names = {"uk": column.uk, "ru": column.ru}.get(language) or column.en
    return names[0] if names else path


def reason_words(reason: str) -> str:
    if reason == "contains control characters":
        return _("contains control characters")
    if reason == "not a valid calendar date":
        return _("not a valid calendar date")
    if reason == "no messenger name":
        return _("no messenger name")
    if match := re.fullmatch(r"longer than (\d+) characters \((\d+)\)", reason):
        return _("longer than %(limit)s characters (%(length)s)", limit=match[1], length=match[2])
    if match := re.fullmatch(r"only the first (\d+) of (\d+) characters are carried", reason):
        return _(
            "only the first %(kept)s of %(length)s characters are carried", kept=match[1], length=match[2]
        )
    return reason


def not_carried_words(item: NotCarried) -> str:
    """``{{ item | not_carried }}``: "field — reason" in the reader's language."""
    return f"{field_words(item.field)} — {reason_words(item.reason)}"
