"""scopes.md documents exactly the scopes the code can request."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import Flask

from app.google import oauth
from tests.google.connecting import settings_of

SCOPES_MD = Path(__file__).resolve().parents[2] / "scopes.md"


def _documented() -> set[str]:
    """The first column of the table in scopes.md."""
    rows = re.findall(r"^\| `([^`]+)` \|", SCOPES_MD.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return set(rows)


def _requested(url: str) -> set[str]:
    return set(parse_qs(urlsplit(url).query)["scope"][0].split())


def test_scopes_md_lists_exactly_the_requestable_scopes(app: Flask) -> None:
    settings = settings_of(app)
    common = {
        "redirect_uri": f"{settings.public_url}/cb",
        "state": "s",
        "nonce": "n",
        "code_verifier": "v" * 43,
    }
    requestable = _requested(oauth.sign_in_url(settings, **common)) | _requested(
        oauth.contacts_consent_url(settings, **common)
    )
    assert _documented() == requestable


def test_scopes_md_justifies_the_contacts_scope_and_states_limited_use() -> None:
    text = SCOPES_MD.read_text(encoding="utf-8")
    for needed in (
        "contacts.readonly",
        "Why no narrower scope serves",
        "What GroupSync stores from Google",
        "Limited Use requirements",
        "people.batchCreateContacts",
        "contactGroups.members.modify",
    ):
        assert needed in text


def test_scopes_md_names_every_people_api_method_the_client_calls() -> None:
    client_source = (SCOPES_MD.parent / "app" / "google" / "people.py").read_text(encoding="utf-8")
    called = set(re.findall(r"\"((?:people|contactGroups)\.[A-Za-z.]+)\"", client_source))
    assert called
    documented = set(
        re.findall(r"`((?:people|contactGroups)\.[A-Za-z.]+)`", SCOPES_MD.read_text(encoding="utf-8"))
    )
    assert called <= documented
