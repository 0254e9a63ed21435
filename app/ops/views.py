"""Public probe endpoints for orchestrators and the Prometheus scrape.

``/healthz`` says the process answers (no dependency is touched, so a database outage does
not get every web process restarted); ``/readyz`` says it can serve: the database answers
and, when Celery is configured, so does the broker. ``/metrics`` is served only when
``GROUPSYNC_METRICS_TOKEN`` is set, and only to a request bearing it.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request

from app.config import Settings
from app.extensions import csrf, db
from app.ops import metrics, readiness

bp = Blueprint("ops", __name__)
csrf.exempt(bp)

PROBE_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    settings: Settings = current_app.config["GROUPSYNC"]
    checks = readiness.check(db.engine, settings, timeout=PROBE_TIMEOUT_SECONDS)
    ready = all(result == "ok" for result in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    settings: Settings = current_app.config["GROUPSYNC"]
    if settings.metrics_token is None:
        abort(404)
    if not metrics.bearer_accepted(settings, request.headers.get("Authorization", "")):
        return Response("a bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"})
    return Response(metrics.render(settings), mimetype="text/plain; version=0.0.4")
