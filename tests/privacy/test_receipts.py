"""Deletion receipts: a page of their own after the redirect, and a signed JSON file a stranger can check."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from app.accounts.models import Role
from app.config import current_settings
from app.extensions import db
from app.ledger.signing import Signer, public_pem
from app.privacy import receipts
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client

RECEIPT = {
    "receipt": "groupsync-deletion/1",
    "user_id": 7,
    "rows_deleted": {"membership": 1},
    "note": "Олена",
}


def test_a_signed_receipt_verifies_with_the_public_key_and_nothing_else(app: Flask) -> None:
    settings = current_settings()
    document = receipts.sign(dict(RECEIPT), settings).document(
        "https://groupsync.example/privacy/receipt-key.pem"
    )
    pem = receipts.public_key_pem(settings)
    assert pem is not None
    assert document["signature"]["key_id"] == Signer.for_receipts(settings).key_id
    assert receipts.verify(document, pem.encode())

    tampered = json.loads(json.dumps(document))
    tampered["receipt"]["rows_deleted"]["membership"] = 0
    assert not receipts.verify(tampered, pem.encode())
    tampered["signed"] = tampered["signed"].replace('"membership":1', '"membership":0')
    assert not receipts.verify(tampered, pem.encode())
    stranger = public_pem(Ed25519PrivateKey.generate().public_key())
    assert not receipts.verify(document, stranger.encode())


def test_receipts_use_their_own_key_not_the_ledger_key(app: Flask) -> None:
    settings = current_settings()
    assert Signer.for_receipts(settings).key_id != Signer.for_settings(settings).key_id


def test_the_deletion_answers_with_a_redirect_to_a_reloadable_receipt_page_and_a_signed_file(
    app: Flask, factory: Factory, tmp_path: Path
) -> None:
    member = factory.member(factory.account("Shop"), Role.MEMBER, email="leaver@shop.example")
    client = sign_in_client(app, member)
    answer = client.post(
        "/privacy/my-data/delete",
        data={
            "csrf_token": csrf_token(client, "/privacy/my-data"),
            "confirmed": "yes",
            "confirmation": "leaver@shop.example",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/privacy/receipt"
    for _reload in range(2):
        page = client.get("/privacy/receipt")
        assert page.status_code == 200
        assert 'data-testid="deletion-rows"' in page.get_data(as_text=True)
        assert "signed with key" in page.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302  # signed out

    download = client.get("/privacy/receipt.json")
    assert download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    document = download.get_json()
    assert document["receipt"]["rows_deleted"]["membership"] == 1
    assert "leaver@shop.example" not in download.get_data(as_text=True)
    key = app.test_client().get("/privacy/receipt-key.pem")
    assert key.status_code == 200
    assert receipts.verify(document, key.get_data())
    assert document["public_key_url"].endswith("/privacy/receipt-key.pem")

    # Another browser has no receipt: it lives only in the asker's session cookie.
    assert app.test_client().get("/privacy/receipt").status_code == 404
    assert app.test_client().get("/privacy/receipt.json").status_code == 404

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    # The stranger's check that docs/user-data.md describes, with openssl alone.
    (tmp_path / "key.pem").write_bytes(key.get_data())
    (tmp_path / "payload").write_bytes(document["signed"].encode("utf-8"))
    (tmp_path / "sig").write_bytes(base64.b64decode(document["signature"]["value"]))
    checked = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "key.pem",
            "-rawin",
            "-in",
            "payload",
            "-sigfile",
            "sig",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Signature Verified Successfully" in checked.stdout


def test_the_receipt_page_names_what_was_deleted_in_the_reader_language(app: Flask, factory: Factory) -> None:
    member = factory.member(factory.account("Крамниця"), Role.MEMBER, email="leaver@shop.example")
    client = sign_in_client(app, member)
    client.post(
        "/privacy/my-data/delete",
        data={
            "csrf_token": csrf_token(client, "/privacy/my-data"),
            "confirmed": "yes",
            "confirmation": "leaver@shop.example",
        },
    )
    # The person is deleted with their saved language, so the browser's language decides.
    page = client.get("/privacy/receipt", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    rows = page[
        page.index('data-testid="deletion-rows"') : page.index("</table>", page.index("deletion-rows"))
    ]
    assert "членство в облікових записах" in rows
    assert "membership" not in rows, "a table name is shown as stored"
    assert "ланцюжка" in page, "each ledger entry is described in words"


def test_the_receipt_stays_in_the_language_the_person_chose_after_their_data_is_gone(
    app: Flask, factory: Factory
) -> None:
    member = factory.member(factory.account("Крамниця"), Role.MEMBER, email="chooser@shop.example")
    member.user.language = "uk"
    db.session.commit()
    client = sign_in_client(app, member)
    english_browser = {"Accept-Language": "en"}
    client.post(
        "/privacy/my-data/delete",
        data={
            "csrf_token": csrf_token(client, "/privacy/my-data"),
            "confirmed": "yes",
            "confirmation": "chooser@shop.example",
        },
        headers=english_browser,
    )
    page = client.get("/privacy/receipt", headers=english_browser).get_data(as_text=True)
    assert "членство в облікових записах" in page, "the receipt is in the language the person had chosen"
    assert "memberships" not in page
