"""Celery workers on PostgreSQL and Redis survive a SIGKILL mid-sync: nothing lost, nothing doubled.

Four tenants, each with one member whose own Google account (an emulator identity) gets two
synced lists of 150 contacts, so the two syncs of one account compete for its lease. Two
Celery workers, beat and gunicorn run as production runs them; the emulator answers with
latency and seeded 503s. One worker is killed (its whole process group) while it runs a sync.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.sync.models import RunOutcome, SyncRun
from app.worker.models import JobState, WorkerJob
from tests.worker.cluster import (
    HTTP_TIMEOUT,
    Cluster,
    _time,
    _wait_until,
    cluster,
    dump,
    enable_all,
    overlapping_writes,
    readyz,
    request_key,
)

pytestmark = pytest.mark.xdist_group("celery")

CONTACTS = 150


def _web_answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200
    except requests.RequestException:
        return False


def _job_in_progress(c: Cluster) -> WorkerJob | None:
    """A job whose run has started sending to Google (so the kill lands mid-run)."""
    db.session.expire_all()
    return db.session.scalar(
        sa.select(WorkerJob)
        .join(SyncRun, SyncRun.sync_id == WorkerJob.sync_id)
        .where(WorkerJob.state == JobState.RUNNING, SyncRun.outcome == RunOutcome.RUNNING)
        .limit(1)
    )


def test_a_worker_killed_mid_sync_loses_nothing_doubles_nothing_and_never_overlaps(tmp_path: Path) -> None:
    with cluster(
        tmp_path, lists_per_tenant=2, contacts_per_list=CONTACTS, latency_ms=250, fault_rate=0.05
    ) as c:
        c.start_web()
        c.start_workers(2)
        c.start_beat()
        _wait_until("gunicorn answers", lambda: _web_answers(c.web_url), timeout=60)
        ready = readyz(c.web_url)
        assert ready["http_status"] == 200, dump(ready)
        assert ready["checks"] == {"database": "ok", "broker": "ok"}

        log_mark = len(c.emulator_log())
        ledger_mark = c.last_ledger_id()
        enable_all(c)

        found: list[WorkerJob] = []
        _wait_until(
            "a worker running a sync",
            lambda: bool(found.append(job) if (job := _job_in_progress(c)) else None) or bool(found),
            timeout=90,
            interval=0.1,
        )
        victim_job = found[0]
        victim = victim_job.worker.split("@", 1)[0]
        killed_sync = victim_job.sync_id
        killed_at = utcnow()
        kill_time = time.time()
        c.kill_worker(victim)

        def converged() -> bool:
            syncs = c.syncs()
            running = db.session.scalar(
                sa.select(sa.func.count(SyncRun.id)).where(SyncRun.outcome == RunOutcome.RUNNING)
            )
            killed = next(s for s in syncs if s.id == killed_sync)
            return (
                not running
                and all(s.last_success_at is not None for s in syncs)
                and killed.last_success_at is not None
                and killed.last_success_at > killed_at
            )

        _wait_until("every sync succeeded after the kill", converged, timeout=150, interval=1.0)
        metrics = requests.get(
            f"{c.web_url}/metrics",
            headers={"Authorization": "Bearer cluster-metrics-token-0123456789"},
            timeout=HTTP_TIMEOUT,
        )
        c.stop_all()

        # The kill landed mid-run: the next run of that sync found the dead run still marked running.
        db.session.expire_all()
        outcomes = list(db.session.scalars(sa.select(SyncRun.outcome).where(SyncRun.sync_id == killed_sync)))
        assert RunOutcome.INTERRUPTED in outcomes, outcomes

        # Every list is mirrored exactly in its Google group; no CRM id is in Google twice anywhere.
        for sync in c.syncs():
            sub = c.sub_of_sync(sync.id)
            expected = Counter(c.list_ids(sync))
            assert len(expected) == CONTACTS
            assert c.group_members(sub, sync) == expected, f"sync {sync.id} is not an exact mirror"
            assert c.tagged_anywhere(sub, sync) == expected, f"sync {sync.id} left a duplicate or a stray"

        log = c.emulator_log(log_mark)
        # No Google account was ever written by two workers at once.
        assert overlapping_writes(log) == [], dump(overlapping_writes(log))
        assert any(e["status"] == 503 for e in log), "the seeded faults never fired"

        # The ledger holds one entry for each request Google received (no entry for one it did not).
        subs = c.sub_of_user()
        in_google = Counter(request_key(e["sub"], e["method"], e["status"]) for e in log)
        in_ledger = Counter(
            request_key(subs.get(entry.user_id or 0), entry.method or "", entry.outcome)
            for entry in c.ledger_requests(ledger_mark)
        )
        assert in_ledger - in_google == Counter(), dump(in_ledger - in_google)
        unrecorded = in_google - in_ledger
        # What the killed worker had sent but not yet committed when it died: only its own Google
        # account's requests, started before the kill (the ledger is written after each answer).
        victim_sub = c.sub_of_sync(killed_sync)
        assert all(key[0] == victim_sub for key in unrecorded), dump(unrecorded)
        for key, missing in unrecorded.items():
            before_kill = [
                e
                for e in log
                if request_key(e["sub"], e["method"], e["status"]) == key and _time(e["started"]) <= kill_time
            ]
            assert len(before_kill) >= missing, dump({"key": key, "missing": missing})
        print(f"requests sent by the killed worker and not in the ledger: {sum(unrecorded.values())}")

        # The redelivered or re-claimed job is counted; none was given up.
        jobs = list(db.session.scalars(sa.select(WorkerJob)))
        assert all(job.state is not JobState.FAILED for job in jobs), dump([j.last_error for j in jobs])
        assert metrics.status_code == 200
        assert "groupsync_queue_depth" in metrics.text
