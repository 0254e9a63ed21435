"""Fixtures for the CRM tests: an account with a real API key and a client that sends it, an admin."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.accounts.models import Account, Membership, Role
from app.crm import services
from app.crm.models import ContactList, CrmContact, ListMember
from app.crm.values import ContactData
from app.extensions import db
from tests.conftest import Factory


@dataclass
class Api:
    """A test client bound to one account's API key."""

    client: FlaskClient
    account: Account
    secret: str

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get("/api/v1" + path, headers=self._headers(), **kwargs)

    def delete(self, path: str) -> TestResponse:
        return self.client.delete("/api/v1" + path, headers=self._headers())

    def put(self, path: str, body: Any) -> TestResponse:
        return self.client.put("/api/v1" + path, json=body, headers=self._headers())

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post("/api/v1" + path, json=body, headers=self._headers())

    def raw(
        self, method: str, path: str, data: bytes, content_type: str = "application/json"
    ) -> TestResponse:
        return self.client.open(
            "/api/v1" + path, method=method, data=data, headers=self._headers({"Content-Type": content_type})
        )


def make_api(app: Flask, account: Account) -> Api:
    _, secret = services.create_api_key(db.session, account.id, "test key", None)
    return Api(app.test_client(), account, secret)


@pytest.fixture
def api(app: Flask, factory: Factory) -> Api:
    return make_api(app, factory.account("Acme"))


@pytest.fixture
def other_api(app: Flask, factory: Factory) -> Api:
    return make_api(app, factory.account("Other Corp"))


SignIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def admin(factory: Factory) -> Membership:
    return factory.member(factory.account("Acme"), Role.ADMIN)


def csrf(client: FlaskClient, page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert match is not None
    return match.group(1)


def live_members(contact_list: ContactList) -> list[ContactData]:
    """What a group mirroring ``contact_list`` must hold: its members not deleted, by CRM id."""
    stmt = (
        select(CrmContact)
        .join(ListMember, ListMember.contact_id == CrmContact.id)
        .where(ListMember.list_id == contact_list.id, CrmContact.deleted.is_(False))
        .order_by(CrmContact.crm_id)
    )
    return [services.to_contact_data(row) for row in db.session.scalars(stmt)]
