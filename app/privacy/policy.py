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
from datetime import date
from pathlib import Path

from flask import current_app
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.config import Settings

DEFAULT_DIR = Path(__file__).parent / "content" / "policy"
_VERSION_FILE = re.compile(r"v(\d+)\.md")
_EFFECTIVE = re.compile(r"^Effective:\s*(\d{4}-\d{2}-\d{2})\s*$", re.MULTILINE)

REQUIRED_STATEMENTS = (
    "Google API Services User Data Policy",
    "Limited Use requirements",
    "not used to develop, improve or train generalized AI/ML",
)
"""Phrases each version must contain (whitespace-insensitive): the Limited Use and AI/ML statements."""


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

    @property
    def html(self) -> Markup:
        # Raw HTML in the operator's file is escaped, not passed through.
        return Markup(MarkdownIt("commonmark", {"html": False}).render(self.markdown))  # noqa: S704


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
    flat = " ".join(text.split())
    missing = [s for s in REQUIRED_STATEMENTS if s not in flat]
    if missing:
        raise PolicyError(f"privacy policy {path} lacks the required statement(s): {'; '.join(missing)}")
    return PolicyVersion(number, text, path, language if path == translated else "en")


def current_policy(settings: Settings | None = None) -> PolicyVersion:
    directory = policy_dir(settings)
    return load(directory, version_numbers(directory)[-1])


def current_policy_version(settings: Settings | None = None) -> str:
    """The version label (``v3``) a user must have seen; it changes whenever a new file is published."""
    return current_policy(settings).version


def _settings() -> Settings:
    settings: Settings = current_app.config["GROUPSYNC"]
    return settings
