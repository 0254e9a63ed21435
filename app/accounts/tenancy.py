"""Who is signed in, in which account, with which role — and the one place tenant scoping happens.

Views never filter by account themselves: they call :func:`scoped` or :func:`get_scoped_or_404`,
which add ``account_id = <signed-in account>`` to the query. A row of another tenant is
therefore indistinguishable from a missing one (404).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from werkzeug.wrappers import Response

from app.accounts.activity import note_activity
from app.accounts.models import Account, LoginSession, Membership, Role, User
from app.db import unit_of_work, utcnow
from app.extensions import db

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_SESSION_KEY = "login"

SESSION_IDLE_LIMIT = timedelta(hours=12)
SESSION_LIFETIME = timedelta(days=14)
"""A session unused for the idle limit, or older than the lifetime, is over: a copied cookie
does not stay useful for ever, and people sign in through Google again."""
_LAST_SEEN_GRANULARITY = timedelta(minutes=1)
"""``last_seen_at`` is written at most this often, so page views do not each cost a write."""


class TenantOwned(Protocol):
    account_id: InstrumentedAttribute[int] | int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _expired(now: datetime) -> Any:
    """Sessions past the idle limit or the lifetime (deleted at the next sign-in of anyone)."""
    return or_(
        LoginSession.last_seen_at < now - SESSION_IDLE_LIMIT, LoginSession.created_at < now - SESSION_LIFETIME
    )


def sign_in(membership: Membership) -> None:
    """Start a fresh session for ``membership``; the old cookie contents (and CSRF token) are dropped."""
    session.clear()
    token = secrets.token_urlsafe(32)
    with unit_of_work(db.session) as work:
        work.execute(delete(LoginSession).where(_expired(utcnow())))
        # Signing in is what keeps an account from being frozen for inactivity.
        note_activity(membership.account)
        work.add(
            LoginSession(
                token_hash=_hash(token),
                membership_id=membership.id,
                ip=(request.remote_addr or "")[:45],
                user_agent=request.user_agent.string[:200],
            )
        )
    session[_SESSION_KEY] = token
    g.pop("membership", None)
    g.pop("login", None)


def sign_out() -> None:
    token = session.get(_SESSION_KEY)
    if isinstance(token, str):
        with unit_of_work(db.session) as work:
            work.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))
    session.clear()
    g.pop("membership", None)
    g.pop("login", None)


def end_sessions_of(membership_id: int) -> None:
    """Invalidate every session of a membership (call in the transaction that removes it)."""
    db.session.execute(delete(LoginSession).where(LoginSession.membership_id == membership_id))


def current_login() -> LoginSession | None:
    """This browser's live session row, read without marking it seen (the security gate checks it first)."""
    if "login" in g:
        cached: LoginSession | None = g.login
        return cached
    login: LoginSession | None = None
    token = session.get(_SESSION_KEY)
    if isinstance(token, str):
        login = db.session.scalar(
            select(LoginSession).where(LoginSession.token_hash == _hash(token), ~_expired(utcnow()))
        )
        if login is None:
            session.pop(_SESSION_KEY, None)
    g.login = login
    return login


def current_membership() -> Membership | None:
    if "membership" in g:
        cached: Membership | None = g.membership
        return cached
    membership: Membership | None = None
    login = current_login()
    if login is not None:
        now = utcnow()
        membership = login.membership
        if login.last_seen_at < now - _LAST_SEEN_GRANULARITY:
            with unit_of_work(db.session):
                login.last_seen_at = now
    g.membership = membership
    return membership


def current_user() -> User | None:
    membership = current_membership()
    return membership.user if membership is not None else None


def current_account() -> Account:
    membership = current_membership()
    if membership is None:
        abort(401)
    return membership.account


def require_role(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Allow the view only to signed-in members holding one of ``roles``.

    Anonymous browsers are sent to sign-in (JSON clients get 401); other roles get 403.
    """
    allowed = frozenset(roles)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            membership = current_membership()
            if membership is None:
                if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
                    abort(401)
                return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
            if membership.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator


ANY_ROLE = (Role.ADMIN, Role.MEMBER, Role.REVIEWER)


def scoped(stmt: Select[Any], model: Any) -> Select[Any]:
    """Restrict ``stmt`` to the signed-in account's rows of ``model`` (which has ``account_id``)."""
    return stmt.where(model.account_id == current_account().id)


def get_scoped_or_404(model: type[T], ident: object) -> T:
    row = db.session.get(model, ident)
    if row is None or getattr(row, "account_id", None) != current_account().id:
        abort(404)
    return row
