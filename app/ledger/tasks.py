"""Signed evidence packs as background jobs: the web records a request, the worker fulfils it.

Only the worker (and the CLI) can read the ledger signing key. So a reviewer's pack request
is a row; the worker claims it, takes a fresh checkpoint of every chain that moved (so the
pack's slice ends at a signed head), builds and signs the pack, and stores it for download.
A request whose worker died is claimed again once :data:`CLAIM_TIMEOUT` has passed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import unit_of_work
from app.extensions import ngettext
from app.ledger.models import EvidencePackRequest, PackState
from app.ledger.pack import signed_evidence_pack
from app.ledger.signing import Signer
from app.logs import redactor

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=15)
PACKS_PER_RUN = 10
"""At most this many packs per run, so one burst of requests cannot hold the worker."""
PENDING_PER_ACCOUNT = 3
"""A reviewer may queue this many packs at a time per account."""
KEEP_PACKS = timedelta(days=7)
"""A finished pack can be downloaded for this long; a reviewer can always ask for a fresh one."""


class PackRequestError(Exception):
    """The account already has as many packs waiting as it may."""


def request_pack(
    session: Session,
    *,
    account_id: int,
    user_id: int | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> EvidencePackRequest:
    """Queue a pack for the worker; commits."""
    waiting = session.scalars(
        select(EvidencePackRequest.id).where(
            EvidencePackRequest.account_id == account_id,
            EvidencePackRequest.state.in_([PackState.PENDING, PackState.RUNNING]),
        )
    ).all()
    if len(waiting) >= PENDING_PER_ACCOUNT:
        raise PackRequestError(
            ngettext(
                "%(num)s evidence pack is already being made for this account; wait for it first.",
                "%(num)s evidence packs are already being made for this account; wait for them first.",
                len(waiting),
            )
        )
    request = EvidencePackRequest(
        account_id=account_id, requested_by=user_id, window_start=start, window_end=end, created_at=now
    )
    with unit_of_work(session):
        session.add(request)
    return request


def _claim(session: Session, now: datetime) -> EvidencePackRequest | None:
    """The oldest request nobody is working on, marked running in the database (one claimant wins)."""
    claimable = or_(
        EvidencePackRequest.state == PackState.PENDING,
        and_(
            EvidencePackRequest.state == PackState.RUNNING,
            EvidencePackRequest.claimed_at < now - CLAIM_TIMEOUT,
        ),
    )
    candidate = session.scalar(
        select(EvidencePackRequest.id).where(claimable).order_by(EvidencePackRequest.created_at).limit(1)
    )
    if candidate is None:
        return None
    with unit_of_work(session):
        claimed = session.execute(
            update(EvidencePackRequest)
            .where(EvidencePackRequest.id == candidate, claimable)
            .values(state=PackState.RUNNING, claimed_at=now, progress="checkpointing the ledger and signing")
            .execution_options(synchronize_session=False)
        )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    return session.get(EvidencePackRequest, candidate, populate_existing=True)


def build_requested_packs(session: Session, settings: Settings, now: datetime) -> int:
    """Fulfil waiting pack requests (the worker's job), and forget packs older than
    :data:`KEEP_PACKS`; returns how many packs were built."""
    with unit_of_work(session):
        session.execute(
            delete(EvidencePackRequest).where(
                EvidencePackRequest.state.in_([PackState.DONE, PackState.FAILED]),
                EvidencePackRequest.finished_at < now - KEEP_PACKS,
            )
        )
    built = 0
    for _ in range(PACKS_PER_RUN):
        request = _claim(session, now)
        if request is None:
            break
        try:
            content = signed_evidence_pack(
                session,
                settings,
                account_id=request.account_id,
                start=request.window_start,
                end=request.window_end,
                now=now,
            )
        except Exception as exc:
            session.rollback()
            logger.exception("evidence pack %s failed", request.id)
            with unit_of_work(session):
                request.state = PackState.FAILED
                request.progress = "failed"
                request.error = redactor.redact(f"{type(exc).__name__}: {exc}")[:2000]
                request.finished_at = now
            continue
        with unit_of_work(session):
            request.content = content
            request.key_id = Signer.for_settings(settings).key_id
            request.state = PackState.DONE
            request.progress = "ready"
            request.finished_at = now
        built += 1
    return built
