"""Structured logging with a request id, and the one redaction filter every record passes.

The filter is attached to the root handlers, so records from libraries (oauthlib,
googleapiclient, werkzeug) are redacted too. Known secrets (client secret, secret key) are
registered at start and replaced verbatim; patterns catch tokens, codes, JWTs, e-mail
addresses and phone numbers that no one registered.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from app.config import Settings

REDACTED = "[redacted]"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # OAuth parameters and JSON fields carrying credentials.
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|code_verifier|code|token|"
        r"authorization|password|secret|state|nonce)[\"']?\s*[=:]\s*[\"']?)(?:(?:Bearer|Basic)\s+)?[^\s&\"',;}]+"
    ),
    re.compile(r"(?i)((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"ya29\.[A-Za-z0-9._-]+"),  # Google access tokens
    re.compile(r"1//[A-Za-z0-9._-]+"),  # Google refresh tokens
    re.compile(r"4/[0-9A-Za-z._-]{10,}"),  # Google authorization codes
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # e-mail addresses
    # Phone numbers; not digit runs inside identifiers such as UUIDs or hex task ids.
    re.compile(r"(?<![\w-])\+?\d[\d ()-]{7,}\d(?![\w-])"),
)


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def register(self, *values: str) -> None:
        self._secrets.update(v for v in values if v and len(v) >= 6)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
        return text


redactor = Redactor()


class RedactionFilter(logging.Filter):
    """Renders each record's message once, redacted, so arguments cannot smuggle secrets past it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks can quote URLs and bodies; keep the type and the redacted text only.
            message = f"{message} [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            record.exc_info = None
            record.exc_text = None
        record.msg = redactor.redact(message)
        record.args = ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redactor.redact(value))
        return True


_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def configure(settings: Settings) -> None:
    """Install one handler on the root logger with both filters (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_groupsync", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._groupsync = True  # type: ignore[attr-defined]
    formatter: logging.Formatter
    if settings.log_json:
        formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactionFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    redactor.register(settings.secret_key, settings.google_client_secret, settings.metrics_token or "")
    for spec in settings.token_keys.split(","):
        redactor.register(spec.partition(":")[2])


def init_app(app: Flask, settings: Settings) -> None:
    configure(settings)

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response
