"""The versioned disclosure text and the acceptance gate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from app.accounts.models import Role
from app.extensions import db
from app.privacy import disclosure
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy, current_policy_version
from tests.conftest import Factory


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "disclosure"
    folder.mkdir()
    monkeypatch.setattr(disclosure, "CONTENT_DIR", folder)
    disclosure.load.cache_clear()
    yield folder
    disclosure.load.cache_clear()


def test_shipped_disclosure_covers_what_the_policy_requires() -> None:
    text = disclosure.current().markdown
    for needed in (
        "one contact group",  # what it accesses
        "only inside that group",  # what it does
        "job title",  # which CRM fields are copied
        "never do",
        "advertising",
        "AI or machine-learning",
        "Turn a sync off",
        "revokes",
        "stay there",
        "Limited Use requirements",
        "(/privacy)",
    ):
        assert needed in text, needed


def test_shipped_disclosure_says_exactly_what_groupsync_reads() -> None:
    text = " ".join(disclosure.current().markdown.split())
    for needed in (
        "What GroupSync will read",
        "the list of the contacts in it",
        "never the groups' names",
        "25,000",
        "never lists your contacts or your groups",
        "receives nothing of a contact outside its group",
        "not the name of any group it did not create",
        "an empty group of the first name may then stay behind",
    ):
        assert needed in text, needed
    # The earlier text is kept as published; it promised less than it could show.
    assert disclosure.versions()[-2:] == ["v1", "v2"]
    assert "What GroupSync will read" not in disclosure.load("v1").markdown


def test_the_highest_numbered_version_is_current(content: Path) -> None:
    for number in (1, 2, 10):
        (content / f"v{number}.md").write_text(f"Version {number}\n", encoding="utf-8")
    (content / "notes.txt").write_text("ignored", encoding="utf-8")
    assert disclosure.versions() == ["v1", "v2", "v10"]
    assert disclosure.current().version == "v10"
    with pytest.raises(LookupError):
        disclosure.load("v3")


def test_raw_html_in_the_text_is_escaped(content: Path) -> None:
    (content / "v1.md").write_text("Hello <script>alert(1)</script> [policy](/privacy)\n", encoding="utf-8")
    html = str(disclosure.current().html)
    assert "<script>" not in html
    assert '<a href="/privacy">policy</a>' in html


def test_acceptance_counts_only_for_the_current_texts_and_account(
    content: Path, factory: Factory, app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (content / "v1.md").write_text("First\n", encoding="utf-8")
    account, other = factory.account(), factory.account()
    member = factory.member(account, Role.MEMBER)
    assert not disclosure.has_current_acceptance(db.session(), member.user_id, account.id)
    policy = current_policy_version()
    db.session.add(
        DisclosureAcceptance(
            account_id=account.id, user_id=member.user_id, version="v1", policy_version=policy
        )
    )
    db.session.commit()
    assert disclosure.has_current_acceptance(db.session(), member.user_id, account.id)
    assert not disclosure.has_current_acceptance(db.session(), member.user_id, other.id)

    # A new privacy policy needs a fresh acceptance...
    policies = tmp_path / "policy"
    policies.mkdir()
    newer = int(policy.removeprefix("v")) + 1
    for number in range(1, newer + 1):
        (policies / f"v{number}.md").write_text(current_policy().markdown, encoding="utf-8")
    settings = app.config["GROUPSYNC"]
    monkeypatch.setitem(app.config, "GROUPSYNC", replace(settings, privacy_policy_dir=policies))
    assert current_policy_version() == f"v{newer}"
    assert not disclosure.has_current_acceptance(db.session(), member.user_id, account.id)
    monkeypatch.setitem(app.config, "GROUPSYNC", settings)
    assert disclosure.has_current_acceptance(db.session(), member.user_id, account.id)

    # ...and so does a new disclosure text.
    (content / "v2.md").write_text("Second: a new use of data\n", encoding="utf-8")
    assert not disclosure.has_current_acceptance(db.session(), member.user_id, account.id)
