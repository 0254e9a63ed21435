"""The demo account's list: a few hundred realistic, valid contacts using every field kind."""

from __future__ import annotations

import random
import re

from flask import Flask

from app.crm import services
from app.crm.validation import validate_contact
from app.extensions import db
from groupsync_emulator.demo_data import DEMO_SIZE, demo_payload, seed_demo_account
from tests.conftest import Factory
from tests.crm.conftest import live_members


def test_seeding_creates_a_full_list_once(app: Flask, factory: Factory) -> None:
    account = factory.account("Demo")
    contact_list = seed_demo_account(db.session, account)
    assert DEMO_SIZE >= 200
    assert services.list_sizes(db.session, [contact_list.id]) == {contact_list.id: DEMO_SIZE}
    before = contact_list.content_changed_at
    again = seed_demo_account(db.session, account)
    assert again.id == contact_list.id
    assert again.content_changed_at == before
    contacts = live_members(contact_list)
    assert len(contacts) == DEMO_SIZE
    for kind in ("prefix", "middle_name", "suffix", "job_title", "company", "notes"):
        assert any(getattr(c, kind) for c in contacts), kind
    for kind in ("emails", "phones", "addresses", "messengers", "urls"):
        assert any(len(getattr(c, kind)) > 1 or getattr(c, kind) for c in contacts), kind
    assert any(c.birthday and c.birthday.year is None for c in contacts)
    assert any(c.birthday and c.birthday.year for c in contacts)
    protocols = {m.protocol for c in contacts for m in c.messengers}
    assert {"telegram", "whatsapp", "viber", "signal", "skype"} <= protocols
    cyrillic = [c for c in contacts if re.search("[\u0400-\u04ff]", c.given_name)]
    latin = [c for c in contacts if re.fullmatch("[A-Za-z]+", c.given_name)]
    assert len(cyrillic) > DEMO_SIZE // 2
    assert len(latin) > DEMO_SIZE // 5
    assert all(p.value.startswith("+") for c in contacts for p in c.phones)


def test_payloads_are_deterministic_and_valid() -> None:
    first = [demo_payload(i, random.Random(7)) for i in range(1, 30)]
    second = [demo_payload(i, random.Random(7)) for i in range(1, 30)]
    assert first == second
    for payload in first:
        validate_contact(payload, default_region="UA")


def test_seeding_again_brings_back_nothing_an_admin_removed(app: Flask, factory: Factory) -> None:
    account = factory.account("Demo")
    contact_list = seed_demo_account(db.session, account)
    first, second = (c.crm_id for c in live_members(contact_list)[:2])
    services.delete_contact(db.session, account.id, first, "user:1")
    services.change_members(db.session, account.id, contact_list.crm_id, {"contact_ids": [second]}, add=False)
    services.set_default_region(db.session, account.id, "GB")

    again = seed_demo_account(db.session, account)

    assert services.get_contact(db.session, account.id, first).deleted
    assert {c.crm_id for c in live_members(again)}.isdisjoint({first, second})
    assert services.list_sizes(db.session, [again.id]) == {again.id: DEMO_SIZE - 2}
    assert services.default_region(db.session, account.id) == "GB"
    services.delete_list(db.session, account.id, again.crm_id)
    assert seed_demo_account(db.session, account).deleted_at is not None
