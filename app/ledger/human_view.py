"""Guarding every page that shows Google-derived data to a person (Limited Use: read only for a reason).

Decorate such a view with :func:`requires_view_reason`. Until the viewer has given a reason
from :class:`HumanViewReason` for that page, the view is not run and a form asks for one.
Submitting the form (a CSRF-protected POST) records an ``access.human_view`` ledger entry and
grants the page for :data:`GRANT_SECONDS`; a later visit needs a new reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, render_template, request, session
from werkzeug.datastructures import MultiDict

from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.ledger.events import HumanViewReason

P = ParamSpec("P")
R = TypeVar("R")

GRANT_SECONDS = 15 * 60
_GRANTS_KEY = "human_view_grants"

REASON_LABELS = {
    HumanViewReason.USER_CONSENT: _l("The user asked for help and consented to my reading their data"),
    HumanViewReason.SECURITY: _l("Security: investigating abuse or an incident"),
    HumanViewReason.LEGAL: _l("Legal: required to comply with the law"),
}


@dataclass(frozen=True)
class ViewRequest:
    """What the reason form carries: the page, whose data it shows, and where to go back."""

    view: str
    next: str
    subject: int | None = None
    reason: HumanViewReason | None = None

    @classmethod
    def parse(cls, form: MultiDict[str, str]) -> tuple[ViewRequest, str | None]:
        """The request and the first problem with it (``None`` when it can be recorded)."""
        view = form.get("view", "")[:80]
        target = form.get("next", "")[:500]
        subject = form.get("subject", "")
        raw_reason = form.get("reason", "")
        reason = HumanViewReason(raw_reason) if raw_reason in set(HumanViewReason) else None
        parsed = cls(view, target, int(subject) if subject.isdigit() else None, reason)
        if not view or not target:
            return parsed, "The form lost the page it was for; open the page again."
        if subject and not subject.isdigit():
            return parsed, "The form names no valid user; open the page again."
        if reason is None:
            return parsed, _("Choose the reason you need to see this data.")
        return parsed, None


def render_reason_form(asked: ViewRequest, error: str | None = None) -> str:
    return render_template("ledger/human_view_reason.html", asked=asked, labels=REASON_LABELS, error=error)


def grant(path: str) -> None:
    grants = {p: t for p, t in session.get(_GRANTS_KEY, {}).items() if t > time.time()}
    grants[path] = time.time() + GRANT_SECONDS
    session[_GRANTS_KEY] = grants


def _granted(path: str) -> bool:
    expiry = session.get(_GRANTS_KEY, {}).get(path)
    return isinstance(expiry, int | float) and expiry > time.time()


def requires_view_reason(
    view: str,
    subject_arg: str | None = None,
    *,
    scope: Callable[..., object] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R | str]]:
    """Run the view only after the viewer recorded why they look; ``subject_arg`` names the URL
    argument holding the id of the user whose data the page shows, when there is one.

    ``scope`` runs first with the view's URL arguments, so that an id from another tenant is
    answered with its 404 rather than with a reason form.
    """

    def decorator(function: Callable[P, R]) -> Callable[P, R | str]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | str:
            if request.method != "GET":
                abort(405)
            if scope is not None:
                scope(**kwargs)
            if _granted(request.path):
                return function(*args, **kwargs)
            subject = kwargs.get(subject_arg) if subject_arg else None
            asked = ViewRequest(
                view=view,
                next=request.full_path.rstrip("?"),
                subject=subject if isinstance(subject, int) else None,
            )
            return render_reason_form(asked)

        # Read by the route matrix (tests/test_route_matrix.py): every view of Google-derived data
        # shown to someone other than its user must carry this guard.
        wrapper.human_view_guard = view  # type: ignore[attr-defined]
        return wrapper

    return decorator


def guarded_view(function: Callable[..., object]) -> str | None:
    """The view name a route's function is guarded under, or ``None`` when it is not guarded."""
    name = getattr(function, "human_view_guard", None)
    return name if isinstance(name, str) else None
