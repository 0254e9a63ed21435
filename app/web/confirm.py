"""Destructive actions ask first: one confirmation page for all of them, and the field that proves it.

An action's URL answers GET with the confirmation page (what will happen, in numbers) and POST
with the action, but only when the form carries ``confirmed=yes``, which only the confirmation
page sends. A POST without it (an old page's one-click button, a forged form) is redirected to
the confirmation page, so nothing is ever deleted by a single click.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import redirect, render_template, request
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

CONFIRMED_FIELD = "confirmed"
CONFIRMED_VALUE = "yes"


@dataclass(frozen=True)
class Confirmation:
    """What the shared page shows: a question, the consequences (sentences with the numbers), a red button."""

    title: str
    consequences: list[str]
    button: str
    cancel_url: str
    action_url: str = ""
    """Defaults to the page's own URL (the action answers GET with this page)."""
    typed: str = ""
    """Non-empty: the person must also type this (e.g. their e-mail address) to confirm."""
    typed_label: str = ""
    reassurance: str = ""
    """What does *not* happen or can still be undone, shown after the consequences."""
    error: str = ""


def confirmed() -> bool:
    """True when this POST came from the confirmation page."""
    return request.method == "POST" and request.form.get(CONFIRMED_FIELD) == CONFIRMED_VALUE


def ask(confirmation: Confirmation, status: int = 200) -> tuple[str, int]:
    return render_template(
        "web/confirm.html",
        confirmation=confirmation,
        action_url=confirmation.action_url or request.path,
        confirmed_field=CONFIRMED_FIELD,
        confirmed_value=CONFIRMED_VALUE,
    ), status


def to_confirmation_page() -> Response:
    """The answer to an unconfirmed POST: the same URL by GET, i.e. the confirmation page."""
    return redirect(request.full_path.rstrip("?") if request.query_string else request.path, code=303)


def with_link(message: str, link_text: str, url: str) -> Markup:
    """A flash message that ends with the link to what fixes it; the parts are escaped."""
    return Markup('{} <a href="{}">{}</a>').format(escape(message), url, link_text)
