"""Parsers for the values of environment settings, each naming the variable in its problem.

Only :mod:`app.config` reads the environment; it hands each variable to an :class:`EnvReader`
method, which returns a usable value and records what is wrong instead of raising.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

E = TypeVar("E", bound=StrEnum)


class EnvReader:
    """Collects every problem instead of stopping at the first, so one start shows them all."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str | None) -> str:
        value = self._raw(name) or default
        if value is None:
            self.problems.append(f"{name} is required (not set)")
            return ""
        return value

    def secret(self, name: str, relaxed: bool, min_length: int) -> str:
        value = self._raw(name)
        if value is None:
            if relaxed:
                # Demo/test only: a throw-away value that never leaves this process.
                return secrets.token_urlsafe(48)
            self.problems.append(f"{name} is required (not set)")
            return ""
        if len(value) < min_length:
            self.problems.append(f"{name} must be at least {min_length} characters long")
        return value

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def optional_secret(self, name: str, min_length: int) -> str | None:
        value = self._raw(name)
        if value is not None and len(value) < min_length:
            self.problems.append(f"{name} must be at least {min_length} characters long")
        return value

    def keyring(self, name: str, relaxed: bool) -> str:
        value = self._raw(name)
        key_file = self._raw(name + "_FILE")
        if value is None and key_file is not None:
            try:
                value = Path(key_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problems.append(f"{name}_FILE cannot be read: {exc.strerror}")
                return ""
        if value is None:
            if relaxed:
                return ""
            self.problems.append(f"{name} (or {name}_FILE) is required: the key that encrypts OAuth tokens")
            return ""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+:[A-Za-z0-9+/=_-]+(,[A-Za-z0-9_.-]+:[A-Za-z0-9+/=_-]+)*", value):
            self.problems.append(f"{name} must look like 'keyid:base64key[,keyid:base64key...]'")
        return value

    def policy_directory(self, name: str) -> Path | None:
        value = self._raw(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_dir() or not any(re.fullmatch(r"v\d+\.md", p.name) for p in path.iterdir()):
            self.problems.append(
                f"{name} must be a directory holding policy versions v1.md, v2.md... (got '{value}')"
            )
        return path

    def database_url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        scheme = value.split(":", 1)[0]
        if scheme == "postgres":
            value, scheme = "postgresql" + value[len("postgres") :], "postgresql"
        if scheme not in {"sqlite", "postgresql", "postgresql+psycopg"}:
            self.problems.append(
                f"{name} must be an sqlite:/// or postgresql+psycopg:// URL (got scheme '{scheme}')"
            )
        if scheme == "postgresql":
            # psycopg 3 is the driver we ship; SQLAlchemy's bare name means psycopg2.
            value = "postgresql+psycopg" + value[len("postgresql") :]
        return value

    def url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            self.problems.append(f"{name} must be an absolute http(s) URL (got '{value}')")
        return value.rstrip("/")

    def optional_url(self, name: str) -> str | None:
        return self.url(name, "") if self._raw(name) is not None else None

    def host_port(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", value):
            self.problems.append(f"{name} must be host:port (got '{value}')")
        return value

    def service_account(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com", value):
            self.problems.append(f"{name} must be a service account address (…@….iam.gserviceaccount.com)")
        return value

    def readable_file(self, name: str) -> Path | None:
        value = self._raw(name)
        if value is None:
            return None
        if not Path(value).is_file():
            self.problems.append(f"{name} must name a readable file (got '{value}')")
        return Path(value)

    def mail_transport(self, name: str) -> str:
        value = self._raw(name) or "console"
        if value != "console" and not re.fullmatch(r"file:.+|smtp://[A-Za-z0-9.\-]+:\d{1,5}", value):
            self.problems.append(f"{name} must be console, file:<dir> or smtp://host:port (got '{value}')")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        self.problems.append(f"{name} must be true or false (got '{value}')")
        return default

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{name} must be a whole number (got '{value}')")
            return default
        if number < minimum:
            self.problems.append(f"{name} must be at least {minimum} (got {number})")
        elif maximum is not None and number > maximum:
            self.problems.append(f"{name} must be at most {maximum} (got {number})")
        return number

    def limiter_storage(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            return "memory://"
        if value != "memory://" and not value.startswith(("redis://", "rediss://")):
            self.problems.append(f"{name} must be memory:// or a redis:// or rediss:// URL (got '{value}')")
            return "memory://"
        return value

    def optional_port(self, name: str) -> int | None:
        value = self._raw(name)
        if value is None:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            self.problems.append(f"{name} must be a port number from 1 to 65535 (got '{value}')")
            return None
        return int(value)

    def number(self, name: str, default: float, minimum: float, maximum: float | None = None) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.problems.append(f"{name} must be a number (got '{value}')")
            return default
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.problems.append(f"{name} must be {bound} (got {value})")
        return number

    def choice(self, name: str, kind: type[E], default: E) -> E | None:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return kind(value.lower())
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            self.problems.append(f"{name} must be one of {allowed} (got '{value}')")
            return None

    def choice_str(self, name: str, allowed: set[str], default: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value.upper() not in allowed:
            self.problems.append(f"{name} must be one of {', '.join(sorted(allowed))} (got '{value}')")
            return default
        return value.upper()
