"""The embedded worker: one background thread that runs due syncs, for single-machine installs.

It polls the database — the same source of truth the Celery scheduler reads — so a
"sync now" click or a CRM change made by another process is picked up within one tick.
Syncs run one after another; the database lease in :mod:`app.sync.services` still
guards each Google account, so a second embedded worker (another process) is safe.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from flask import Flask

from app.config import Settings
from app.db import utcnow
from app.extensions import db
from app.worker import tasks

logger = logging.getLogger(__name__)

# Runs happen inline, so a claim only has to outlast this process dying mid-run.
_HOLD = timedelta(minutes=10)


class EmbeddedWorker:
    def __init__(self, app: Flask, tick_seconds: float = 2.0) -> None:
        self._app = app
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._chores_done: dict[str, datetime] = {}
        self._thread = threading.Thread(target=self._loop, name="groupsync-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def run_once(self) -> int:
        """One scheduler tick: periodic upkeep when its time has come, then every due sync.

        Returns how many sync runs started.
        """
        settings: Settings = self._app.config["GROUPSYNC"]
        with self._app.app_context():
            now = utcnow()
            for chore in tasks.CHORES:
                last = self._chores_done.get(chore.name)
                if last is None or now - last >= chore.every:
                    chore.run(db.session(), settings, now)
                    self._chores_done[chore.name] = now
            started = 0
            for sync_id, trigger in tasks.claim_due(db.session(), settings, hold=_HOLD):
                if self._stop.is_set():
                    break
                if tasks.run_one(db.session(), settings, sync_id, trigger) is not None:
                    started += 1
            db.session.remove()
            return started

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                # A bad run must not end the worker; the run itself recorded its failure.
                logger.exception("worker tick failed")
                with self._app.app_context():
                    db.session.rollback()
                    db.session.remove()
            self._stop.wait(self._tick)
