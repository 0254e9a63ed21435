"""/healthz, /readyz and /metrics over real HTTP handling, with working and unreachable dependencies."""

from __future__ import annotations

import socket
from pathlib import Path

import requests
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import Client

from app import create_app
from app.ops import metrics
from tests.conftest import make_settings

UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"
"""Port 9 (discard) has no listener here, so connecting is refused at once."""
REDIS = "redis://127.0.0.1:6379/14"
"""Not the Celery kill test's database (13): this test writes the queue key."""
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"
TOKEN = "metrics-token-0123456789abcdef"


def _app(tmp_path: Path, database_url: str | None = None, **overrides: object) -> Flask:
    url = database_url or f"sqlite:///{tmp_path / 'probe.sqlite3'}"
    return create_app(make_settings(url, tmp_path, **overrides))


def test_healthz_answers_without_touching_the_database(tmp_path: Path) -> None:
    client = _app(tmp_path, UNREACHABLE_DATABASE).test_client()
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok"}


def test_readyz_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_is_unavailable_and_says_why_when_the_database_does_not_answer(tmp_path: Path) -> None:
    answer = _app(tmp_path, UNREACHABLE_DATABASE).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["checks"]["database"].startswith("unavailable: ")


def test_readyz_pings_the_broker_when_celery_is_configured(tmp_path: Path) -> None:
    ready = _app(tmp_path, celery_broker_url=REDIS).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    down = _app(tmp_path, celery_broker_url=UNREACHABLE_REDIS).test_client().get("/readyz")
    assert down.status_code == 503
    assert down.json is not None
    assert down.json["checks"]["broker"] == "unavailable: ConnectionError"


def test_metrics_are_not_served_without_a_token_setting(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_require_the_bearer_token(tmp_path: Path) -> None:
    client = _app(tmp_path, metrics_token=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    metrics.observe_google_request("people.batchCreateContacts", "503", attempt=2)
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    text = answer.text
    assert 'groupsync_google_requests_total{method="people.batchCreateContacts",status="503"}' in text
    assert 'groupsync_google_retries_total{method="people.batchCreateContacts"}' in text
    for name in ("groupsync_sync_runs", "groupsync_contacts_written", "groupsync_sync_run_duration_seconds"):
        assert f"# TYPE {name}" in text


def test_metrics_report_the_queue_depth_of_the_broker(tmp_path: Path) -> None:
    import redis

    broker = redis.Redis.from_url(REDIS, socket_timeout=5)
    broker.delete(metrics.CELERY_QUEUE)
    broker.rpush(metrics.CELERY_QUEUE, "a", "b", "c")
    try:
        client = _app(tmp_path, metrics_token=TOKEN, celery_broker_url=REDIS).test_client()
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        broker.delete(metrics.CELERY_QUEUE)
        broker.close()
    assert "groupsync_queue_depth 3.0" in text


def test_proxy_fix_trusts_exactly_the_configured_hops(tmp_path: Path) -> None:
    def seen(app: Flask) -> str:
        app.add_url_rule("/seen", "seen", lambda: f"{request.scheme} {request.host} {request.remote_addr}")
        forwarded = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "groupsync.example.com",
            "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
        }
        return app.test_client().get("/seen", headers=forwarded).text

    assert seen(_app(tmp_path)) == "http localhost 127.0.0.1"
    assert seen(_app(tmp_path, proxy_hops=1)) == "https groupsync.example.com 203.0.113.9"


def test_a_worker_serves_only_metrics_to_the_bearer_of_the_token(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'w.sqlite3'}", tmp_path, metrics_token=TOKEN)
    client = Client(metrics.worker_app(settings))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    metrics.SYNC_RUNS.labels(outcome="ok").inc()
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert 'groupsync_sync_runs_total{outcome="ok"}' in answer.text


def test_a_worker_metrics_endpoint_answers_over_http(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(
        f"sqlite:///{tmp_path / 'w.sqlite3'}", tmp_path, metrics_token=TOKEN, worker_metrics_port=port
    )
    server = metrics.serve_in_thread(settings, host="127.0.0.1")
    metrics.JOBS_GIVEN_UP.inc()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.status_code == 200
        assert "groupsync_jobs_given_up_total" in answer.text
    finally:
        server.shutdown()
