"""The in-app disclosure shown before GroupSync sends anyone to Google's consent screen.

Each version is a Markdown file ``content/disclosure/v<N>.md``; the highest N is current.
Published versions are never edited: a change is a new file, and every user must accept
it before GroupSync makes another People API call for them. The same holds for a new
version of the privacy policy the disclosure links to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy_version

CONTENT_DIR = Path(__file__).parent / "content" / "disclosure"
_VERSION_FILE = re.compile(r"v(\d+)\.md")


@dataclass(frozen=True)
class Disclosure:
    version: str
    markdown: str

    @property
    def html(self) -> Markup:
        # Raw HTML in the source is escaped, not passed through.
        return Markup(MarkdownIt("commonmark", {"html": False}).render(self.markdown))  # noqa: S704


def versions() -> list[str]:
    """Every published version, oldest first."""
    numbers = sorted(
        int(match.group(1)) for path in CONTENT_DIR.iterdir() if (match := _VERSION_FILE.fullmatch(path.name))
    )
    return [f"v{n}" for n in numbers]


@cache
def load(version: str) -> Disclosure:
    if version not in versions():
        raise LookupError(f"no disclosure version {version!r}")
    return Disclosure(version, (CONTENT_DIR / f"{version}.md").read_text(encoding="utf-8"))


def current() -> Disclosure:
    return load(versions()[-1])


def has_current_acceptance(session: Session, user_id: int, account_id: int) -> bool:
    """Whether the user accepted the current disclosure and policy in this account: the People API gate."""
    accepted = session.scalar(
        select(DisclosureAcceptance.id)
        .where(
            DisclosureAcceptance.user_id == user_id,
            DisclosureAcceptance.account_id == account_id,
            DisclosureAcceptance.version == current().version,
            DisclosureAcceptance.policy_version == current_policy_version(),
        )
        .limit(1)
    )
    return accepted is not None
