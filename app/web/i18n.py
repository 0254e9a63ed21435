"""Languages and time zones of the web interface (Flask-Babel).

The language is the signed-in user's saved choice, else the anonymous browser's choice kept in
its session, else the best match of Accept-Language, else English. The time zone is the user's
saved one, else the one the browser reports (app.js stores it in the ``tz`` cookie), else UTC.

Catalogues ship as ``.po`` files only; they are compiled to ``.mo`` in the instance folder when
the app starts (and again when a ``.po`` is newer), so a fresh clone and the wheel need no build
step.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request, session
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    refresh,
    to_user_timezone,
)

from app.accounts.tenancy import current_membership
from app.extensions import shown_message

SOURCE_DIR = Path(__file__).resolve().parent.parent / "translations"
LANGUAGES: Mapping[str, str] = {"uk": "Українська", "en": "English", "ru": "Русский"}
"""Each supported language with its own name for itself, in the order the switcher shows them."""
DEFAULT_LANGUAGE = "en"
TZ_COOKIE = "tz"
_SESSION_LANGUAGE = "language"


def compile_catalogues(source: Path, target: Path) -> None:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``source`` to ``.mo`` under ``target``."""
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale=po_path.parts[-3])
        # Written beside and renamed, so a concurrent worker never reads half a file.
        fd, temporary = tempfile.mkstemp(dir=mo_path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalogue)
        os.replace(temporary, mo_path)


def is_language(value: object) -> bool:
    return isinstance(value, str) and value in LANGUAGES


def is_time_zone(value: object) -> bool:
    if not isinstance(value, str) or not value or len(value) > 64:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def time_zones() -> list[str]:
    return sorted(available_timezones() | {"UTC"})


def remember_language(language: str) -> None:
    """Keep an anonymous browser's choice (a signed-in user's is saved on the user)."""
    session[_SESSION_LANGUAGE] = language


def _user_preferences() -> tuple[str | None, str | None]:
    membership = current_membership() if has_request_context() else None
    if membership is None:
        return None, None
    user = membership.user
    return user.language, user.time_zone


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE  # a command or a job: logs and stored texts stay English
    language, _ = _user_preferences()
    if is_language(language):
        return str(language)
    chosen = session.get(_SESSION_LANGUAGE)
    if is_language(chosen):
        return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def select_timezone() -> str:
    if not has_request_context():
        return "UTC"
    _, zone = _user_preferences()
    if is_time_zone(zone):
        return str(zone)
    # app.js writes the cookie with encodeURIComponent ("Europe%2FKyiv"); cookies are not decoded for us.
    detected = unquote(request.cookies.get(TZ_COOKIE, ""))
    return detected if detected is not None and is_time_zone(detected) else "UTC"


def current_language() -> str:
    """The language of the current request's pages."""
    locale = get_locale()
    return str(locale) if locale is not None else DEFAULT_LANGUAGE


def _number_filter(value: int | float | None) -> str:
    return "" if value is None else str(format_decimal(value))


def _date_filter(value: date | None) -> str:
    """A stored UTC time's day in the reader's time zone; a calendar date (a policy's effective
    day) has no zone and is shown as it is. Either in the reader's language."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(format_date(to_user_timezone(value), "medium"))
    return str(format_date(value, "medium"))


def _datetime_filter(value: datetime | None, format: str = "medium") -> str:
    """A stored UTC time in the reader's time zone and language; naive values are UTC."""
    if value is None:
        return ""
    return str(format_datetime(value, format))


def init_app(app: Flask) -> None:
    compiled = Path(app.instance_path) / "translations"
    compile_catalogues(SOURCE_DIR, compiled)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["datetime"] = _datetime_filter
    app.jinja_env.filters["date"] = _date_filter
    app.jinja_env.filters["number"] = _number_filter
    # A message stored as an id and parameters, in the reader's language (app.extensions.stored_message).
    app.jinja_env.filters["message"] = shown_message
    app.jinja_env.globals["now_utc"] = lambda: datetime.now(UTC)
    # Multi-line {% trans %} blocks become one message with single spaces (babel.cfg extracts alike).
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    @app.before_request
    def forget_the_previous_choice() -> None:
        # Flask-Babel caches the choice on ``g``; a test client may run many requests in one context.
        refresh()

    @app.context_processor
    def languages() -> dict[str, object]:
        return {"LANGUAGES": LANGUAGES, "current_language": current_language()}
