"""Reviewer pages: browse, summarise and export the signed-in account's ledger; evidence packs.

Read-only for reviewers and admins, except that they may ask for an evidence pack: the
request is queued for the worker, which alone holds the ledger signing key
(:mod:`app.ledger.tasks`). The other POST records a human view of Google-derived data (see
:mod:`app.ledger.human_view`), which any signed-in member may need.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from app.accounts.models import Role
from app.accounts.tenancy import (
    ANY_ROLE,
    current_account,
    current_membership,
    get_scoped_or_404,
    require_role,
    scoped,
)
from app.db import utcnow
from app.extensions import db, shown_message
from app.extensions import gettext as _
from app.ledger import chain, tasks
from app.ledger.events import EventTag, Purpose
from app.ledger.exports import csv_lines, iter_rows, ndjson_lines
from app.ledger.human_view import ViewRequest, grant, render_reason_form, requires_view_reason
from app.ledger.models import EvidencePackRequest, LedgerEntry, PackState
from app.ledger.queries import FilterError, LedgerFilter, summarize
from app.ledger.services import record_human_view
from app.web_security import safe_next

bp = Blueprint("ledger", __name__)

REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
LEDGER_VIEW = "ledger"
"""Ledger entries name the users whose Google data flowed: reading them is a recorded human view."""
PAGE_SIZE = 50


def _filter() -> tuple[LedgerFilter, list[str]]:
    return _filter_from(request.args)


def _filter_from(values: Mapping[str, str]) -> tuple[LedgerFilter, list[str]]:
    """The filter, or every problem with it in the reader's language."""
    try:
        return LedgerFilter.parse(values), []
    except FilterError as exc:
        return LedgerFilter(), [shown_message(problem) for problem in exc.problems]


def _filter_form(chosen: LedgerFilter, errors: list[str]) -> dict[str, object]:
    """What the shared filter form (``ledger/_nav.html``) needs."""
    return {
        "chosen": chosen,
        "errors": errors,
        "outcomes": db.session.scalars(
            scoped(select(LedgerEntry.outcome).distinct(), LedgerEntry).order_by(LedgerEntry.outcome)
        ).all(),
        "args": request.args,
        "purposes": list(Purpose),
        "tags": list(EventTag),
        "export_args": chosen.query_args(),
    }


def _bad_filter(errors: list[str]) -> Response:
    # Plain text: the message quotes the caller's input, which must never be rendered as HTML.
    return Response("\n".join(errors), status=400, mimetype="text/plain")


def _page() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


@bp.get("/ledger")
@require_role(*REVIEW_ROLES)
@requires_view_reason(LEDGER_VIEW)
def browse() -> tuple[str, int]:
    chosen, errors = _filter()
    # A bad filter shows no entries: unfiltered ones under the error would read as the answer.
    page = None
    if not errors:
        page = db.paginate(
            scoped(chosen.statement(), LedgerEntry), page=_page(), per_page=PAGE_SIZE, error_out=False
        )
    return render_template(
        "ledger/browse.html", page=page, fmt=chain.format_time, **_filter_form(chosen, errors)
    ), (400 if errors else 200)


@bp.get("/ledger/summary")
@require_role(*REVIEW_ROLES)
@requires_view_reason(LEDGER_VIEW)
def summary() -> tuple[str, int]:
    chosen, errors = _filter()
    result = None if errors else summarize(db.session, scoped(chosen.statement(), LedgerEntry))
    return render_template("ledger/summary.html", summary=result, **_filter_form(chosen, errors)), (
        400 if errors else 200
    )


def _export(lines_of: str) -> Response:
    chosen, errors = _filter()
    if errors:
        return _bad_filter(errors)
    # The body is read after this request's session is closed: the rows come in batches, each
    # from a short session of its own (app.ledger.exports), never from db.session.
    rows = iter_rows(db.engine, scoped(chosen.statement(), LedgerEntry))
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    if lines_of == "csv":
        body, mimetype = csv_lines(rows), "text/csv"
    else:
        body, mimetype = ndjson_lines(rows), "application/x-ndjson"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="groupsync-ledger-{stamp}.{lines_of}"'},
    )


@bp.get("/ledger/export.csv")
@require_role(*REVIEW_ROLES)
@requires_view_reason(LEDGER_VIEW)
def export_csv() -> Response:
    return _export("csv")


@bp.get("/ledger/export.ndjson")
@require_role(*REVIEW_ROLES)
@requires_view_reason(LEDGER_VIEW)
def export_ndjson() -> Response:
    return _export("ndjson")


@bp.get("/ledger/evidence-pack")
@require_role(*REVIEW_ROLES)
def packs() -> tuple[str, int]:
    """The account's pack requests: progress while the worker builds them, then the download."""
    chosen, errors = _filter()
    requests = db.session.scalars(
        scoped(select(EvidencePackRequest), EvidencePackRequest)
        .order_by(EvidencePackRequest.created_at.desc())
        .limit(20)
    ).all()
    waiting = any(r.state in {PackState.PENDING, PackState.RUNNING} for r in requests)
    return render_template(
        "ledger/evidence_packs.html",
        requests=requests,
        waiting=waiting,
        fmt=chain.format_time,
        **_filter_form(chosen, errors),
    ), (400 if errors else 200)


@bp.post("/ledger/evidence-pack")
@require_role(*REVIEW_ROLES)
def request_pack() -> BaseResponse:
    chosen, errors = _filter_from(request.form)
    if errors:
        return _bad_filter(errors)
    membership = current_membership()
    try:
        tasks.request_pack(
            db.session(),
            account_id=current_account().id,
            user_id=membership.user_id if membership else None,
            start=chosen.start,
            end=chosen.end,
            now=utcnow(),
        )
    except tasks.PackRequestError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Your evidence pack is being made; it appears below when it is signed."), "info")
    return redirect(url_for("ledger.packs"))


def _own_pack(pack_id: int) -> EvidencePackRequest:
    return get_scoped_or_404(EvidencePackRequest, pack_id)


@bp.get("/ledger/evidence-pack/<int:pack_id>.zip")
@require_role(*REVIEW_ROLES)
@requires_view_reason(LEDGER_VIEW, scope=_own_pack)
def download_pack(pack_id: int) -> Response:
    made = _own_pack(pack_id)
    if made.state is not PackState.DONE or made.content is None:
        abort(404)
    stamp = (made.finished_at or made.created_at).strftime("%Y%m%dT%H%M%SZ")
    name = f"groupsync-evidence-{stamp}.zip"
    return Response(
        made.content,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
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
