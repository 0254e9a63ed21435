"""The admin's view of background jobs that failed and will not run again."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.accounts.models import Role
from app.accounts.tenancy import current_account, require_role, scoped
from app.extensions import db
from app.worker.models import JobState, WorkerJob

bp = Blueprint("worker", __name__)

FAILED_JOBS_SHOWN = 200


@bp.get("/admin/jobs")
@require_role(Role.ADMIN)
def failed_jobs() -> str:
    jobs = db.session.scalars(
        scoped(db.select(WorkerJob), WorkerJob)
        .where(WorkerJob.state == JobState.FAILED)
        .order_by(WorkerJob.updated_at.desc(), WorkerJob.id.desc())
        .limit(FAILED_JOBS_SHOWN)
    ).all()
    return render_template("worker/failed_jobs.html", jobs=jobs, account=current_account())
