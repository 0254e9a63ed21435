"""Whether this process can serve: each dependency checked with its own timeout, never raising."""

from __future__ import annotations

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings


def check(engine: Engine, settings: Settings, timeout: float) -> dict[str, str]:
    """``{"database": "ok" | reason, "broker": ...}``; the broker only when Celery is configured."""
    results = {"database": _database(engine, timeout)}
    if settings.celery_broker_url:
        results["broker"] = _broker(settings.celery_broker_url, timeout)
    return results


def _database(engine: Engine, timeout: float) -> str:
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A hung server must not hang the probe; SET LOCAL ends with this transaction.
                conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"unavailable: {type(getattr(exc, 'orig', None) or exc).__name__}"
    return "ok"


def _broker(url: str, timeout: float) -> str:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"unavailable: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"
