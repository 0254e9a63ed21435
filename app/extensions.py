"""Flask extensions, created unbound and bound to an app in :func:`app.create_app`."""

from __future__ import annotations

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
