"""Sign-in with Google: starting it, completing it, and deciding which account the person enters.

A sign-in request is single use and bound to the browser that started it: the row keeps a
hash of ``state`` and of a random value held in that browser's session cookie, and is
deleted by the first callback that presents it. ``nonce`` and the PKCE verifier are derived
from the server's secret key and ``state`` (HMAC), so they never leave the server and nothing
at rest could complete an exchange.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.accounts.models import Account, Invitation, Membership, Role, SignInRequest, User
from app.accounts.services import role_label as _role
from app.config import Settings
from app.db import unit_of_work, utcnow
from app.extensions import gettext as _
from app.google import oauth
from app.google.endpoints import SIGN_IN_SCOPES
from app.ledger import services as ledger
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger

logger = logging.getLogger(__name__)

REQUEST_LIFETIME = timedelta(minutes=10)
REQUIRED_SCOPES = frozenset({"openid", "email"})
"""``profile`` is asked for but optional: without it the name falls back to the e-mail address."""


class SignInError(Exception):
    """Sign-in cannot complete; the message is safe to show to the person."""


@dataclass(frozen=True)
class SignInOutcome:
    """A completed sign-in: the memberships the person may enter (at least one)."""

    user_id: int
    memberships: tuple[Membership, ...]
    next_url: str
    notices: tuple[str, ...] = field(default=())


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _derive(settings: Settings, label: str, state: str) -> str:
    mac = hmac.new(
        settings.secret_key.encode(), f"groupsync/sign-in/{label}\0{state}".encode(), hashlib.sha256
    )
    return mac.hexdigest()


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}/auth/callback"


def start_sign_in(
    session: Session,
    settings: Settings,
    *,
    browser_secret: str,
    next_url: str,
    age_confirmed: bool = False,
    now: datetime | None = None,
) -> str:
    """Store a fresh single-use sign-in request and return Google's authorization URL for it."""
    moment = now or utcnow()
    state = oauth.new_secret()
    with unit_of_work(session) as work:
        work.execute(delete(SignInRequest).where(SignInRequest.created_at < moment - REQUEST_LIFETIME))
        work.add(
            SignInRequest(
                state_hash=_hash(state),
                browser_hash=_hash(browser_secret),
                next_url=next_url,
                age_confirmed=age_confirmed,
                created_at=moment,
            )
        )
    return oauth.sign_in_url(
        settings,
        redirect_uri=redirect_uri(settings),
        state=state,
        nonce=_derive(settings, "nonce", state),
        code_verifier=_derive(settings, "pkce", state),
    )


def _claim(session: Session, *, state: str, browser_secret: str, now: datetime) -> SignInRequest:
    """Consume the request named by ``state``; any mismatch leaves nothing to retry with."""
    with unit_of_work(session) as work:
        # Committed before any check below refuses: a refused answer leaves nothing to retry with.
        pending = work.scalar(select(SignInRequest).where(SignInRequest.state_hash == _hash(state)))
        if pending is None:
            logger.warning("sign-in callback refused: unknown or reused state")
            raise SignInError(_("This sign-in link was already used or is unknown. Please sign in again."))
        claimed = work.execute(delete(SignInRequest).where(SignInRequest.id == pending.id))
    if getattr(claimed, "rowcount", 0) != 1:
        logger.warning("sign-in callback refused: state claimed by a concurrent callback")
        raise SignInError(_("This sign-in link was already used. Please sign in again."))
    if not hmac.compare_digest(pending.browser_hash, _hash(browser_secret)):
        logger.warning("sign-in callback refused: state belongs to another browser")
        raise SignInError(_("This sign-in was started in another browser. Please sign in again here."))
    if pending.created_at < now - REQUEST_LIFETIME:
        logger.info("sign-in callback refused: request expired")
        raise SignInError(_("This sign-in took too long and expired. Please sign in again."))
    return pending


def _token_flow() -> Flow:
    """The code exchange's ledger entry before the answer: nobody is known yet (installation chain)."""
    return Flow(
        tag=EventTag.GOOGLE_REQUEST,
        account_id=None,
        kind=FlowKind.TOKEN,
        purpose=Purpose.SIGN_IN,
        trigger=Trigger.USER_ACTION,
        actor="system",
        outcome="started",
        destination=Destination.GOOGLE,
        method="oauth2.token.authorization_code",
        categories=frozenset({DataCategory.IDENTITY}),
    )


def _with_status(flow: Flow, status: int) -> Flow:
    return replace(flow, detail={**flow.detail, "http_status": status}) if status else flow


def complete_sign_in(
    session: Session,
    settings: Settings,
    *,
    state: str,
    code: str,
    browser_secret: str,
    now: datetime | None = None,
) -> SignInOutcome:
    """Redeem Google's answer, find or create the person, apply invitations, and record the request."""
    moment = now or utcnow()
    pending = _claim(session, state=state, browser_secret=browser_secret, now=moment)
    google_requests = ledger.GoogleRequestLedger(session)
    try:
        grant = oauth.exchange_code(
            settings,
            code=code,
            redirect_uri=redirect_uri(settings),
            code_verifier=_derive(settings, "pkce", state),
            nonce=_derive(settings, "nonce", state),
            scopes=SIGN_IN_SCOPES,
            required_scopes=REQUIRED_SCOPES,
            ledger=google_requests,
            flow=_token_flow(),
        )
    except oauth.OAuthError as exc:
        with unit_of_work(session):
            if exc.request is not None:
                # The person is not known, so the outcome stays on the installation-wide chain too.
                outcome = exc.request.ended(exc.outcome)
                google_requests.finish(exc.request, _with_status(outcome, exc.http_status))
        logger.warning("sign-in refused after the token request: %s (HTTP %s)", exc.outcome, exc.http_status)
        raise SignInError(_failure_message(exc)) from None
    with unit_of_work(session) as work:
        refused = not pending.age_confirmed and _is_new(work, grant.identity.sub)
        if refused:
            # Nobody is created, so the outcome stays on the installation-wide chain.
            outcome = grant.request.ended("refused_age_not_confirmed")
            google_requests.finish(grant.request, _with_status(outcome, grant.http_status))
    if refused:
        raise SignInError(
            _(
                "GroupSync is for people aged 16 or older. To create your account, tick the box confirming "
                "that you are, then sign in again."
            )
        )
    with unit_of_work(session) as work:
        user, memberships, notices = admit(work, grant.identity)
        # The outcome goes to the person's account chain when there is exactly one to attribute it to.
        outcome = replace(
            grant.request.ended("ok"),
            account_id=memberships[0].account_id if len(memberships) == 1 else None,
            user_id=user.id,
            actor=f"user:{user.id}",
            google_account=grant.identity.sub,
        )
    # Recorded on the ledger's own session, so only after the caller's work is committed.
    google_requests.finish(grant.request, _with_status(outcome, grant.http_status))
    logger.info("sign-in completed: user %s, %d account(s)", user.id, len(memberships))
    return SignInOutcome(
        user_id=user.id, memberships=tuple(memberships), next_url=pending.next_url, notices=tuple(notices)
    )


def _failure_message(exc: oauth.OAuthError) -> str:
    if isinstance(exc, oauth.ScopesNotGrantedError):
        return _(
            "Google did not share your e-mail address with GroupSync, which sign-in needs. Please try again."
        )
    if isinstance(exc, oauth.TokenEndpointError) and exc.outcome in {"timeout", "unreachable"}:
        return _("Google could not be reached to finish signing in. Please try again in a moment.")
    return _("Google did not confirm this sign-in. Please sign in again.")


def _is_new(session: Session, sub: str) -> bool:
    return session.scalar(select(User.id).where(User.google_sub == sub)) is None


def admit(session: Session, identity: oauth.Identity) -> tuple[User, list[Membership], list[str]]:
    """Find the person by ``sub``, join the accounts that invited their verified address, or give them one."""
    # Two first sign-ins of one person can finish at once; the second insert yields to the
    # first (waiting for it to commit) instead of failing on the unique ``sub``.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(User)
        .values(google_sub=identity.sub, email=identity.email, name=identity.name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["google_sub"])
    )
    user = session.scalars(
        select(User).where(User.google_sub == identity.sub).execution_options(populate_existing=True)
    ).one()
    user.email = identity.email
    if not user.name_chosen:
        user.name = identity.name or user.name
    if user.age_confirmed_at is None:
        # Only a sign-in whose box was ticked gets here for a new person (see complete_sign_in).
        user.age_confirmed_at = utcnow()
    session.flush()
    notices: list[str] = []
    invitations = session.scalars(
        select(Invitation).where(Invitation.email == identity.email.lower()).order_by(Invitation.id)
    ).all()
    joined = {m.account_id for m in session.scalars(select(Membership).where(Membership.user_id == user.id))}
    if invitations and not identity.email_verified:
        notices.append(
            _(
                "An invitation for your e-mail address is waiting, but Google has not verified that address, "
                "so it was not used."
            )
        )
    elif invitations:
        for invitation in invitations:
            if invitation.account_id not in joined:
                session.add(
                    Membership(account_id=invitation.account_id, user_id=user.id, role=invitation.role)
                )
                joined.add(invitation.account_id)
                notices.append(
                    _(
                        "You joined %(account)s as %(role)s.",
                        account=invitation.account.name,
                        role=_role(invitation.role),
                    )
                )
            session.delete(invitation)
        session.flush()
    memberships = list(
        session.scalars(select(Membership).where(Membership.user_id == user.id).order_by(Membership.id))
    )
    if not memberships:
        # Named in the founder's language (they can rename it); a stored name, so this is its only language.
        account = Account(name=_("%(name)s's account", name=identity.name or identity.email.split("@")[0]))
        membership = Membership(account=account, user=user, role=Role.ADMIN)
        session.add_all([account, membership])
        session.flush()
        memberships = [membership]
        notices.append(_("Welcome! %(account)s was created and you are its admin.", account=account.name))
    return user, memberships, notices


def membership_of(session: Session, *, user_id: int, membership_id: int) -> Membership | None:
    """The person's own membership ``membership_id`` (``None`` for anyone else's)."""
    return session.scalar(
        select(Membership).where(Membership.id == membership_id, Membership.user_id == user_id)
    )


def memberships_of(session: Session, user_id: int) -> list[Membership]:
    return list(
        session.scalars(select(Membership).where(Membership.user_id == user_id).order_by(Membership.id))
    )
