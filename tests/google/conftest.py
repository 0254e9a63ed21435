"""Fixtures of the Google layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.helpers import emulator_credentials
from tests.google.people_harness import Harness


@pytest.fixture
def harness(app: Flask, google: HooksClient, factory: Factory) -> Iterator[Harness]:
    account = factory.account()
    credentials = emulator_credentials(app.config["GROUPSYNC"])
    yield Harness(app, google, account, credentials)
    google.call("POST", "people/faults", {"identity": None, "plan": None})
