"""Marketplace material agrees with the consent screen and scopes.md; its icons have the listed sizes."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from flask import Flask

from app.google import oauth
from app.workspace.marketplace import ICONS, SCOPES, listing
from tests.google.connecting import settings_of

ROOT = Path(__file__).resolve().parents[2]
ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def _canonical(scopes: set[str]) -> set[str]:
    return {ALIASES.get(s, s) for s in scopes}


def _table_scopes(path: Path, section: str | None = None) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(section, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


def test_marketplace_scopes_are_the_consent_screens_and_scopes_md(app: Flask) -> None:
    settings = settings_of(app)
    common = {
        "redirect_uri": f"{settings.public_url}/cb",
        "state": "s",
        "nonce": "n",
        "code_verifier": "v" * 43,
    }
    consent = set()
    for url in (oauth.sign_in_url(settings, **common), oauth.contacts_consent_url(settings, **common)):
        consent |= set(
            re.search(r"scope=([^&]+)", url)
            .group(1)
            .replace("+", " ")
            .replace("%3A", ":")
            .replace("%2F", "/")
            .split()
        )  # type: ignore[union-attr]
    documented = _table_scopes(ROOT / "docs" / "marketplace.md", "## Marketplace SDK")
    assert documented == set(SCOPES)
    assert _canonical(_table_scopes(ROOT / "scopes.md")) == set(SCOPES)
    assert _canonical(consent) == set(SCOPES)


def test_icons_have_the_sizes_the_listing_requires() -> None:
    for size, path in ICONS.items():
        data = (ROOT / "app" / "static" / path).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
        width, height = struct.unpack(">II", data[16:24])
        assert f"{width}x{height}" in size, (path, width, height)


def test_the_listing_takes_its_urls_from_the_settings(app: Flask) -> None:
    settings = settings_of(app).with_overrides(
        support_url="https://help.example.test", terms_url="https://example.test/terms"
    )
    urls = listing(settings)["urls"]
    assert urls == {
        "privacy_policy": f"{settings.public_url}/privacy",
        "terms_of_service": "https://example.test/terms",
        "support": "https://help.example.test",
        "application": settings.public_url,
    }
    assert "GROUPSYNC_SUPPORT_URL" in listing(settings_of(app))["urls"]["support"]
    assert all(len(texts["short"]) <= 80 for texts in listing(settings)["texts"].values())
