"""Each Celery delivery of a sync job, counted, so a job that keeps killing its worker stops being retried."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class JobState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class WorkerJob(Base):
    """One queued sync job (one Celery task id) and how often a worker has picked it up.

    A worker that dies mid-job leaves the row ``running``; the broker hands the message to
    another worker, which counts a further attempt on the same row.
    """

    __tablename__ = "worker_job"
    __table_args__ = (Index("ix_worker_job_account_state", "account_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    sync_id: Mapped[int] = mapped_column(ForeignKey("contact_sync.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(default=1)
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobState.RUNNING,
    )
    last_error: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(255), default="")
    """The Celery worker (node name) that picked the job up last."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
