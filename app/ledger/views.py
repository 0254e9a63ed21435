"""Reviewer pages: browse, summarise and export the signed-in account's ledger; evidence packs.

Read-only for reviewers and admins. The one POST here records a human view of
Google-derived data (see :mod:`app.ledger.human_view`), which any signed-in member may need.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from app.accounts.models import Role
from app.accounts.tenancy import ANY_ROLE, current_account, current_membership, require_role, scoped
from app.config import current_settings
from app.db import utcnow
from app.extensions import db
from app.extensions import gettext as _
from app.ledger import chain
from app.ledger.events import EventTag, Purpose
from app.ledger.human_view import ViewRequest, grant, render_reason_form
from app.ledger.models import LedgerEntry
from app.ledger.pack import csv_lines, evidence_pack, ndjson_lines
from app.ledger.queries import FilterError, LedgerFilter, summarize
from app.ledger.services import record_human_view
from app.web_security import safe_next

bp = Blueprint("ledger", __name__)

REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
PAGE_SIZE = 50


def _filter() -> tuple[LedgerFilter, str | None]:
    try:
        return LedgerFilter.parse(request.args), None
    except FilterError as exc:
        return LedgerFilter(), str(exc)


def _filter_form(chosen: LedgerFilter, error: str | None) -> dict[str, object]:
    """What the shared filter form (``ledger/_nav.html``) needs."""
    return {
        "chosen": chosen,
        "error": error,
        "args": request.args,
        "purposes": list(Purpose),
        "tags": list(EventTag),
        "export_args": chosen.query_args(),
    }


def _bad_filter(error: str) -> Response:
    # Plain text: the message quotes the caller's input, which must never be rendered as HTML.
    return Response(error, status=400, mimetype="text/plain")


def _page() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


@bp.get("/ledger")
@require_role(*REVIEW_ROLES)
def browse() -> tuple[str, int]:
    chosen, error = _filter()
    page = db.paginate(
        scoped(chosen.statement(), LedgerEntry), page=_page(), per_page=PAGE_SIZE, error_out=False
    )
    return render_template(
        "ledger/browse.html", page=page, fmt=chain.format_time, **_filter_form(chosen, error)
    ), (400 if error else 200)


@bp.get("/ledger/summary")
@require_role(*REVIEW_ROLES)
def summary() -> tuple[str, int]:
    chosen, error = _filter()
    result = summarize(db.session, scoped(chosen.statement(), LedgerEntry))
    return render_template("ledger/summary.html", summary=result, **_filter_form(chosen, error)), (
        400 if error else 200
    )


def _export(lines_of: str) -> Response:
    chosen, error = _filter()
    if error:
        return _bad_filter(error)
    entries = db.session.scalars(scoped(chosen.statement(), LedgerEntry).execution_options(yield_per=500))
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    if lines_of == "csv":
        body, mimetype = csv_lines(entries), "text/csv"
    else:
        body, mimetype = ndjson_lines(entries), "application/x-ndjson"
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="groupsync-ledger-{stamp}.{lines_of}"'},
    )


@bp.get("/ledger/export.csv")
@require_role(*REVIEW_ROLES)
def export_csv() -> Response:
    return _export("csv")


@bp.get("/ledger/export.ndjson")
@require_role(*REVIEW_ROLES)
def export_ndjson() -> Response:
    return _export("ndjson")


@bp.get("/ledger/evidence-pack")
@require_role(*REVIEW_ROLES)
def pack() -> Response:
    chosen, error = _filter()
    if error:
        return _bad_filter(error)
    settings = current_settings()
    now = utcnow()
    data = evidence_pack(
        db.session, settings, account_id=current_account().id, start=chosen.start, end=chosen.end, now=now
    )
    name = f"groupsync-evidence-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    return Response(
        data, mimetype="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.post("/ledger/human-view")
@require_role(*ANY_ROLE)
def human_view() -> BaseResponse | tuple[str, int]:
    asked, problem = ViewRequest.parse(request.form)
    if problem is not None or asked.reason is None:
        return render_reason_form(asked, problem), 400
    membership = current_membership()
    assert membership is not None
    target = safe_next(asked.next, url_for("web.dashboard"))
    record_human_view(
        db.session,
        account_id=membership.account_id,
        viewer_user_id=membership.user_id,
        reason=asked.reason,
        view=asked.view,
        subject_user_id=asked.subject,
    )
    grant(urlsplit(target).path)
    flash(_("Your reason was recorded in the ledger."), "info")
    return redirect(target)
