"""The privacy policy: versioned Markdown files, the highest version current, earlier ones archived.

GroupSync ships a default in ``content/policy/``; operators publish their own by pointing
``GROUPSYNC_PRIVACY_POLICY_DIR`` at a directory of ``v<N>.md`` files. A translation of a version
sits beside it as ``v<N>.<language>.md`` (``v2.uk.md``); readers of a language without one see
the English file, and the version number is the same in every language. Published versions are
never edited: a change is a new file. Every version must carry the statements Google
requires (:data:`REQUIRED_STATEMENTS`), so an operator's text cannot silently drop them.
The disclosure gate compares :func:`current_policy_version` with what a user accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from flask import current_app
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.config import Settings

DEFAULT_DIR = Path(__file__).parent / "content" / "policy"
_VERSION_FILE = re.compile(r"v(\d+)\.md")
_EFFECTIVE = re.compile(r"^Effective:\s*(\d{4}-\d{2}-\d{2})\s*$", re.MULTILINE)

REQUIRED_STATEMENTS = (
    "GroupSync's use and transfer to any other app of information received from Google APIs will adhere "
    "to the Google API Services User Data Policy, including the Limited Use requirements.",
    "Google Workspace API data is not used to develop, improve or train generalized AI/ML models.",
)
"""Sentences each version must contain word for word, as whole sentences (links and emphasis aside):
a phrase inside a different sentence ("will not adhere to...") does not count."""

PLACEHOLDERS = (
    "operator_name",
    "operator_address",
    "support_email",
    "privacy_email",
    "retention_connection_days",
    "retention_ledger_days",
)
"""``{{ name }}`` fields a policy may use; they are filled from the settings when it is shown."""
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class PolicyError(Exception):
    """A policy file is missing, unreadable or lacks a required statement."""


@dataclass(frozen=True)
class PolicyVersion:
    number: int
    markdown: str
    source: Path
    language: str = "en"

    @property
    def version(self) -> str:
        return f"v{self.number}"

    @property
    def effective(self) -> date | None:
        match = _EFFECTIVE.search(self.markdown)
        return date.fromisoformat(match.group(1)) if match else None

    def filled(self, settings: Settings) -> str:
        """The Markdown with every ``{{ placeholder }}`` replaced by this installation's setting."""
        values = placeholder_values(settings)
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.markdown)

    def html(self, settings: Settings | None = None) -> Markup:
        # Raw HTML in the operator's file is escaped, not passed through.
        text = self.filled(settings or _settings())
        return Markup(MarkdownIt("commonmark", {"html": False}).render(text))  # noqa: S704


def placeholder_values(settings: Settings) -> dict[str, str]:
    operator = settings.operator
    return {
        "operator_name": operator.legal_name,
        "operator_address": operator.address,
        "support_email": operator.support_email,
        "privacy_email": operator.privacy_email,
        "retention_connection_days": str(settings.retention_connection_days),
        "retention_ledger_days": str(settings.retention_ledger_days),
    }


def sentences(markdown: str) -> set[str]:
    """The text's sentences, with link targets, emphasis, headings and line breaks removed."""
    plain = _LINK.sub(r"\1", markdown).replace("**", "").replace("__", "")
    found: set[str] = set()
    for block in re.split(r"\n\s*\n", plain):
        flat = " ".join(line.lstrip("#>-* ").strip() for line in block.splitlines())
        found.update(part.strip() for part in _SENTENCE_END.split(flat) if part.strip())
    return found


def missing_statements(markdown: str, required: tuple[str, ...] = REQUIRED_STATEMENTS) -> list[str]:
    present = sentences(markdown)
    return [statement for statement in required if statement not in present]


def policy_dir(settings: Settings | None = None) -> Path:
    settings = settings or _settings()
    return settings.privacy_policy_dir or DEFAULT_DIR


def version_numbers(directory: Path) -> list[int]:
    """Every published version, oldest first."""
    try:
        names = [path.name for path in directory.iterdir()]
    except OSError as exc:
        raise PolicyError(f"privacy policy directory {directory} cannot be read: {exc.strerror}") from exc
    numbers = sorted(int(m.group(1)) for name in names if (m := _VERSION_FILE.fullmatch(name)))
    if not numbers:
        raise PolicyError(f"privacy policy directory {directory} holds no v<N>.md file")
    return numbers


def load(directory: Path, number: int, language: str = "en") -> PolicyVersion:
    """Version ``number`` in ``language`` when translated, else in English."""
    translated = directory / f"v{number}.{language}.md"
    path = translated if language != "en" and translated.is_file() else directory / f"v{number}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LookupError(f"no privacy policy version v{number}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"privacy policy {path} cannot be read as UTF-8 text: {exc}") from exc
    missing = missing_statements(text)
    if missing:
        raise PolicyError(
            f"privacy policy {path} lacks the required sentence(s), word for word: {' | '.join(missing)}"
        )
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(PLACEHOLDERS))
    if unknown:
        raise PolicyError(
            f"privacy policy {path} uses unknown placeholder(s) {', '.join(unknown)}; "
            f"known: {', '.join(PLACEHOLDERS)}"
        )
    return PolicyVersion(number, text, path, language if path == translated else "en")


def utc_today() -> date:
    return datetime.now(UTC).date()


def _in_force(version: PolicyVersion, today: date) -> bool:
    return version.effective is None or version.effective <= today


def current_policy(settings: Settings | None = None, today: date | None = None) -> PolicyVersion:
    """The newest version whose effective date has come (a version without one is in force at once)."""
    directory = policy_dir(settings)
    today = today or utc_today()
    loaded = [load(directory, number) for number in version_numbers(directory)]
    in_force = [version for version in loaded if _in_force(version, today)]
    return in_force[-1] if in_force else loaded[0]


def upcoming_policy(settings: Settings | None = None, today: date | None = None) -> PolicyVersion | None:
    """A published version that takes effect later: users are told about it and may accept it early."""
    directory = policy_dir(settings)
    today = today or utc_today()
    newest = load(directory, version_numbers(directory)[-1])
    return None if _in_force(newest, today) else newest


def current_policy_version(settings: Settings | None = None) -> str:
    """The version label (``v3``) a user must have seen; it changes whenever a new file is published."""
    return current_policy(settings).version


def _settings() -> Settings:
    settings: Settings = current_app.config["GROUPSYNC"]
    return settings
