"""gunicorn settings for the web container: ``gunicorn --config deploy/gunicorn.conf.py 'app:create_app()'``.

The number of web processes comes from ``WEB_CONCURRENCY``, the variable GroupSync's own
configuration reads too: production refuses more than one process on SQLite, so the two
cannot disagree.
"""

import os

bind = os.environ.get("GROUPSYNC_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Every outgoing call has its own shorter timeout; this only ends a request that hangs anyway.
timeout = 120
graceful_timeout = 30
accesslog = "-"
# The query string is left out of the access log: OAuth callbacks carry codes and state in it.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = "*"
"""GroupSync itself decides how many X-Forwarded-* hops to trust (GROUPSYNC_PROXY_HOPS, ProxyFix)."""


def child_exit(server: object, worker: object) -> None:
    """A web process ended: prometheus-client stops counting its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
