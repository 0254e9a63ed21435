"""The in-app disclosure shown before GroupSync sends anyone to Google's consent screen.

Each version is a Markdown file ``content/disclosure/v<N>.md`` (English); the highest N is current.
A translation of a version sits beside it as ``v<N>.<language>.md``; a language without one reads
the English file. An acceptance records the version and the language of the text the user read.
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

from app.accounts.models import Membership
from app.db import DbSession, unit_of_work
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import record
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy_version, upcoming_policy

CONTENT_DIR = Path(__file__).parent / "content" / "disclosure"
_VERSION_FILE = re.compile(r"v(\d+)\.md")


class DisclosureRequiredError(Exception):
    """The user has not accepted the current disclosure (or accepted an outdated one)."""


@dataclass(frozen=True)
class AcceptedTerms:
    """The versions shown on the disclosure page the user agreed to, and the language it was in."""

    disclosure: str
    policy: str
    language: str = "en"

    def __str__(self) -> str:
        return f"disclosure {self.disclosure} with privacy policy {self.policy}"


@dataclass(frozen=True)
class Disclosure:
    version: str
    markdown: str
    language: str = "en"

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


def languages_of(version: str) -> list[str]:
    """The languages ``version`` is published in: English, then each translation beside it."""
    return ["en", *sorted(path.suffixes[0][1:] for path in CONTENT_DIR.glob(f"{version}.*.md"))]


@cache
def load(version: str, language: str = "en") -> Disclosure:
    """``version`` in ``language``, or in English when it has no such translation."""
    if version not in versions():
        raise LookupError(f"no disclosure version {version!r}")
    translated = CONTENT_DIR / f"{version}.{language}.md"
    if language != "en" and language in languages_of(version):
        return Disclosure(version, translated.read_text(encoding="utf-8"), language)
    return Disclosure(version, (CONTENT_DIR / f"{version}.md").read_text(encoding="utf-8"))


def current(language: str = "en") -> Disclosure:
    return load(versions()[-1], language)


def has_current_acceptance(session: DbSession, user_id: int, account_id: int) -> bool:
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


def accept(session: DbSession, membership: Membership, accepted: AcceptedTerms) -> None:
    """Store the user's affirmative acceptance of ``accepted`` and record it; the caller commits.

    Raises :class:`DisclosureRequiredError` when the versions are not the ones in force now
    (a published policy version that takes effect later may be accepted in advance).
    """
    upcoming = upcoming_policy()
    allowed = {current_policy_version()} | ({upcoming.version} if upcoming else set())
    if accepted.disclosure != current().version or accepted.policy not in allowed:
        raise DisclosureRequiredError(f"{accepted} is not what is in force now")
    if accepted.language not in languages_of(accepted.disclosure):
        raise DisclosureRequiredError(f"{accepted} names a language the disclosure is not published in")
    session.add(
        DisclosureAcceptance(
            account_id=membership.account_id,
            user_id=membership.user_id,
            version=accepted.disclosure,
            policy_version=accepted.policy,
            language=accepted.language,
        )
    )
    record(
        session,
        Flow(
            tag=EventTag.DISCLOSURE_ACCEPTED,
            account_id=membership.account_id,
            kind=FlowKind.LIFECYCLE,
            purpose=Purpose.ACCOUNT_CONNECTION,
            trigger=Trigger.USER_ACTION,
            actor=f"user:{membership.user_id}",
            outcome="ok",
            destination=Destination.GROUPSYNC_STORE,
            user_id=membership.user_id,
            detail={
                "version": accepted.disclosure,
                "policy_version": accepted.policy,
                "language": accepted.language,
            },
        ),
    )
    session.flush()


def accept_now(session: DbSession, membership: Membership, accepted: AcceptedTerms) -> None:
    """:func:`accept` in its own transaction (the "review and accept" page)."""
    with unit_of_work(session) as work:
        accept(work, membership, accepted)
