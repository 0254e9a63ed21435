"""Flask extensions, created unbound and bound to an app in :func:`app.create_app`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import flask_babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=str(Path(__file__).parent / "migrations"))
csrf = CSRFProtect()


class LazyText(Protocol):
    """A message translated when it is shown (into the language of the request showing it)."""

    def __str__(self) -> str: ...


def gettext(message: str, **variables: object) -> str:
    """``message`` in the current request's language (English outside a request), with ``%(name)s`` filled."""
    return str(flask_babel.gettext(message, **variables))


def ngettext(singular: str, plural: str, num: int, **variables: object) -> str:
    """The plural form ``num`` needs in the current language (Ukrainian and Russian have three)."""
    return str(flask_babel.ngettext(singular, plural, num, **variables))


def lazy_gettext(message: str, **variables: object) -> LazyText:
    """For messages defined at import time: translated each time they are shown."""
    text: LazyText = flask_babel.lazy_gettext(message, **variables)
    return text


def N_(message: str) -> str:  # noqa: N802 - the name gettext's extractors look for
    """Marks ``message`` for the catalogues without translating it: it is stored and translated when shown."""
    return message


StoredParam = str | int | list[str] | dict[str, str]
"""A list is shown as its items (each may be a stored message) joined by "; "; a dict holds one
person's own words per language (``en`` for every language without its own), shown in the
reader's language."""


def stored_message(message: str, **params: StoredParam) -> str:
    """A message kept in the database and shown later, perhaps to someone reading another language.

    It is stored as its English message id (marked with :func:`N_`) and its parameters, as JSON,
    and :func:`shown_message` translates it for each reader. A parameter may itself be a stored message.
    """
    return json.dumps({"msgid": message, "params": params}, ensure_ascii=False, sort_keys=True)


def shown_message(stored: str) -> str:
    """A :func:`stored_message` in the current request's language; plain text stored before shows as it is."""
    if not stored.startswith('{"msgid"'):
        return stored
    try:
        data = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(data, dict) or not isinstance(data.get("msgid"), str):
        return stored
    params = data.get("params") or {}
    if not isinstance(params, dict):
        return stored
    filled = {name: _shown_param(value) for name, value in params.items()}
    try:
        return gettext(data["msgid"], **filled) if filled else gettext(data["msgid"])
    except (KeyError, ValueError, TypeError):
        # Text that merely looks like a stored message (a CSV cell, say) must not break the page.
        return stored


def _shown_param(value: object) -> str:
    if isinstance(value, str):
        return shown_message(value)
    if isinstance(value, list):
        return "; ".join(_shown_param(item) for item in value)
    if isinstance(value, dict):
        return str(value.get(_language()) or value.get("en") or "")
    # Numbers are written the reader's way too (25,000 or 25 000).
    return str(flask_babel.format_decimal(value)) if isinstance(value, int) else str(value)


def _language() -> str:
    """The language being shown (English outside a request or a forced locale)."""
    locale = flask_babel.get_locale()
    return locale.language if locale is not None else "en"
