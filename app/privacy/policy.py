"""The privacy policy: versioned Markdown files, the highest version current, earlier ones archived.

GroupSync ships a default in ``content/policy/``; operators publish their own by pointing
``GROUPSYNC_PRIVACY_POLICY_DIR`` at a directory of ``v<N>.md`` files. A translation of a version
sits beside it as ``v<N>.<language>.md`` (``v2.uk.md``); readers of a language without one see
the English file, and the version number and effective date are the same in every language.
Published versions are never edited: a change is a new file. Every version must carry the statements Google
requires (:data:`REQUIRED_STATEMENTS`), so an operator's text cannot silently drop them.
The disclosure gate compares :func:`current_policy_version` with what a user accepted.
"""

from __future__ import annotations

import json
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
# The date line in each language's own words ("Effective:" in English).
_EFFECTIVE = re.compile(
    r"^(?:Effective|Чинна з|Действует с):\s*(\d{4}-\d{2}-\d{2})\s*$",  # noqa: RUF001 (Ukrainian and Russian words)
    re.MULTILINE,
)

REQUIRED_STATEMENTS = (
    "GroupSync's use and transfer to any other app of information received from Google APIs will adhere "
    "to the Google API Services User Data Policy, including the Limited Use requirements.",
    "Google Workspace API data is not used to develop, improve or train generalized AI/ML models.",
)
"""Sentences each version must contain word for word, as whole sentences (links and emphasis aside):
a phrase inside a different sentence ("will not adhere to...") does not count."""

TRANSLATED_STATEMENTS: dict[str, tuple[str, ...]] = {
    language: tuple(statements)
    for language, statements in json.loads(
        (Path(__file__).parent / "content" / "required_statements.json").read_text(encoding="utf-8")
    ).items()
}
""":data:`REQUIRED_STATEMENTS` in each language GroupSync ships (kept in a JSON file beside the texts):
a translation in that language must carry them word for word; a translation into another language
must carry the English sentences."""


def required_statements(language: str) -> tuple[str, ...]:
    return TRANSLATED_STATEMENTS.get(language, REQUIRED_STATEMENTS)


PLACEHOLDERS = (
    "operator_name",
    "operator_address",
    "support_email",
    "privacy_email",
    "retention_connection_days",
    "retention_ledger_days",
    "inactive_freeze_days",
    "inactive_warn_days",
    "inactive_unfreeze_days",
    "inactive_copy_days",
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
        "inactive_freeze_days": str(settings.inactive_freeze_days),
        "inactive_warn_days": str(settings.inactive_warn_days),
        "inactive_unfreeze_days": str(settings.inactive_unfreeze_days),
        "inactive_copy_days": str(settings.inactive_copy_days),
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


def languages_of(directory: Path, number: int) -> list[str]:
    """The languages version ``number`` is published in: English, then each translation beside it."""
    return ["en", *sorted(path.suffixes[0][1:] for path in directory.glob(f"v{number}.*.md"))]


def load(directory: Path, number: int, language: str = "en") -> PolicyVersion:
    """Version ``number`` in ``language`` when translated, else in English.

    A translation must carry the required statements in its own language and the English file's
    effective date: the version number and date are one for every language.
    """
    translated = directory / f"v{number}.{language}.md"
    if language != "en" and translated.is_file():
        shown = _read(translated, number, language)
        english = _read(directory / f"v{number}.md", number, "en")
        if shown.effective != english.effective:
            raise PolicyError(
                f"privacy policy {translated} takes effect on {shown.effective}, "
                f"but its English text on {english.effective}"
            )
        return shown
    return _read(directory / f"v{number}.md", number, "en")


def _read(path: Path, number: int, language: str) -> PolicyVersion:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LookupError(f"no privacy policy version v{number}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"privacy policy {path} cannot be read as UTF-8 text: {exc}") from exc
    missing = missing_statements(text, required_statements(language))
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
    return PolicyVersion(number, text, path, language)


def utc_today() -> date:
    return datetime.now(UTC).date()


def _in_force(version: PolicyVersion, today: date) -> bool:
    return version.effective is None or version.effective <= today


def current_policy(
    settings: Settings | None = None, today: date | None = None, language: str = "en"
) -> PolicyVersion:
    """The newest version whose effective date has come (a version without one is in force at once),
    in ``language`` when it is translated (the English file decides which version is in force)."""
    directory = policy_dir(settings)
    today = today or utc_today()
    loaded = [load(directory, number) for number in version_numbers(directory)]
    in_force = [version for version in loaded if _in_force(version, today)]
    chosen = in_force[-1] if in_force else loaded[0]
    return chosen if language == "en" else load(directory, chosen.number, language)


def upcoming_policy(
    settings: Settings | None = None, today: date | None = None, language: str = "en"
) -> PolicyVersion | None:
    """A published version that takes effect later: users are told about it and may accept it early."""
    directory = policy_dir(settings)
    today = today or utc_today()
    newest = load(directory, version_numbers(directory)[-1])
    if _in_force(newest, today):
        return None
    return newest if language == "en" else load(directory, newest.number, language)


def current_policy_version(settings: Settings | None = None) -> str:
    """The version label (``v3``) a user must have seen; it changes whenever a new file is published."""
    return current_policy(settings).version


def _settings() -> Settings:
    settings: Settings = current_app.config["GROUPSYNC"]
    return settings
