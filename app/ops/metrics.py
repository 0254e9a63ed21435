"""Prometheus metrics: counters the web and worker processes update, and the queue depth read at scrape.

Counters live in the process that counts. Set ``PROMETHEUS_MULTIPROC_DIR`` (an empty
directory shared by the processes of one machine) and prometheus-client writes them to
files there, which :func:`render` adds up: the gunicorn workers, and the Celery workers on
the same machine, then show in one ``/metrics``. Without it, ``/metrics`` shows only the
process that answers. A Celery worker on a machine of its own serves the same ``/metrics``
itself when ``GROUPSYNC_WORKER_METRICS_PORT`` is set (:func:`serve_in_thread`), so each
worker machine is scraped like a web machine.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from app.config import Settings

CELERY_QUEUE = "celery"
"""Celery's default queue; every GroupSync task is sent there."""

SYNC_RUNS = Counter("groupsync_sync_runs", "Sync runs that ended, by outcome", ["outcome"])
CONTACTS_WRITTEN = Counter(
    "groupsync_contacts_written", "Contacts GroupSync wrote in Google, by kind of write", ["kind"]
)
RUN_DURATION = Histogram(
    "groupsync_sync_run_duration_seconds",
    "Wall time of sync runs",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
GOOGLE_REQUESTS = Counter(
    "groupsync_google_requests",
    "HTTP requests sent to Google, by API method and status",
    ["method", "status"],
)
GOOGLE_RETRIES = Counter("groupsync_google_retries", "Google requests that repeated a failed one", ["method"])
JOB_REDELIVERIES = Counter(
    "groupsync_job_redeliveries", "Sync jobs the broker delivered again after their worker stopped"
)
JOBS_GIVEN_UP = Counter("groupsync_jobs_given_up", "Sync jobs marked failed after too many deliveries")

WRITE_KINDS = ("created", "recreated", "updated", "deleted", "released", "readded")


def observe_google_request(method: str, status: str, attempt: int) -> None:
    GOOGLE_REQUESTS.labels(method=method, status=status).inc()
    if attempt > 1:
        GOOGLE_RETRIES.labels(method=method).inc()


class QueueDepthCollector(Collector):
    """Jobs waiting in the broker, read when scraped (Redis LLEN) with a short timeout."""

    def __init__(self, broker_url: str, timeout: float) -> None:
        self._broker_url = broker_url
        self._timeout = timeout

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("groupsync_queue_depth", "Sync jobs waiting in the Celery queue")
        client = redis.Redis.from_url(
            self._broker_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )
        try:
            gauge.add_metric([], float(client.llen(CELERY_QUEUE)))
        except redis.RedisError:
            # No sample rather than a wrong one; /readyz tells that the broker is down.
            pass
        finally:
            client.close()
        yield gauge


def render(settings: Settings) -> bytes:
    """The text exposition of every metric this machine's processes counted, plus the queue depth."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (
            SYNC_RUNS,
            CONTACTS_WRITTEN,
            RUN_DURATION,
            GOOGLE_REQUESTS,
            GOOGLE_RETRIES,
            JOB_REDELIVERIES,
            JOBS_GIVEN_UP,
        ):
            registry.register(metric)
    if settings.celery_broker_url and settings.celery_broker_url.startswith("redis"):
        registry.register(QueueDepthCollector(settings.celery_broker_url, timeout=2.0))
    return generate_latest(registry)


def bearer_accepted(settings: Settings, authorization: str) -> bool:
    """Whether an ``Authorization`` header carries the metrics token (never when none is set)."""
    if settings.metrics_token is None:
        return False
    offered = authorization.removeprefix("Bearer ")
    return hmac.compare_digest(offered.encode(), settings.metrics_token.encode())


def worker_app(settings: Settings) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """A WSGI app serving only ``GET /metrics``, as the web app does, for processes that serve no pages."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path != "/metrics" or request.method != "GET":
            return Response("not found\n", 404, mimetype="text/plain")
        if not bearer_accepted(settings, request.headers.get("Authorization", "")):
            return Response("a bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"})
        return Response(render(settings), mimetype="text/plain; version=0.0.4")

    return app


def serve_in_thread(settings: Settings, host: str = "0.0.0.0") -> BaseWSGIServer:  # noqa: S104 (scraped from other machines)
    """Serve :func:`worker_app` on ``GROUPSYNC_WORKER_METRICS_PORT`` from a daemon thread."""
    if settings.worker_metrics_port is None:
        raise ValueError("GROUPSYNC_WORKER_METRICS_PORT is not set")
    server = make_server(host, settings.worker_metrics_port, worker_app(settings))
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
