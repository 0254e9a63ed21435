"""The token vault: authenticated encryption bound to its row, key providers, rotation and retirement."""

from __future__ import annotations

import logging
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.accounts.models import Membership, Role
from app.config import ConfigError, Settings
from app.extensions import db
from app.google.credentials import ConnectionUnusableError, UserOAuthCredentialsSource
from app.google.endpoints import CONTACTS_SCOPE
from app.google.keys import (
    DEMO_KEYRING_FILE,
    EnvelopeProvider,
    KeyringProvider,
    KeyUnavailableError,
    LocalKeyEncryptionKey,
    new_key_spec,
    parse_keyring,
    provider_for,
)
from app.google.models import ConnectionStatus, ConsentRequest, GoogleConnection, StatusReason
from app.google.vault import TokenUnreadableError, TokenVault
from tests.conftest import Factory
from tests.google.connecting import accept_disclosure, settings_of

OLD = new_key_spec("old")
NEW = new_key_spec("new")
REFRESH = "1//refresh-token-plaintext"
ACCESS = "ya29.access-token-plaintext"


def _connection(member: Membership, vault: TokenVault) -> GoogleConnection:
    connection = GoogleConnection(
        account_id=member.account_id,
        user_id=member.user_id,
        status=ConnectionStatus.CONNECTED,
        google_sub=f"sub-of-{member.user_id}",
        granted_scopes=f"openid email {CONTACTS_SCOPE}",
    )
    db.session.add(connection)
    db.session.flush()
    vault.store_refresh_token(connection, REFRESH)
    vault.store_access_token(connection, ACCESS, None)
    db.session.commit()
    return connection


@pytest.fixture
def members(factory: Factory) -> tuple[Membership, Membership]:
    account = factory.account()
    return factory.member(account, Role.MEMBER), factory.member(account, Role.MEMBER)


@pytest.fixture(params=["keyring", "envelope"])
def provider_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _vault(spec: str, kind: str = "keyring") -> TokenVault:
    keyring = KeyringProvider.from_spec(spec)
    return TokenVault(EnvelopeProvider.local(keyring) if kind == "envelope" else keyring)


def test_tokens_round_trip_with_a_fresh_nonce_each_time(
    members: tuple[Membership, Membership], provider_kind: str
) -> None:
    vault = _vault(OLD, provider_kind)
    connection = _connection(members[0], vault)
    assert vault.refresh_token(connection) == REFRESH
    access = vault.access_token(connection)
    assert access is not None
    assert access.token == ACCESS
    first = connection.refresh_token_ciphertext
    vault.store_refresh_token(connection, REFRESH)
    assert connection.refresh_token_ciphertext != first
    assert connection.refresh_token_key_id == "old"
    assert REFRESH.encode() not in (connection.refresh_token_ciphertext or b"")


def test_a_ciphertext_copied_to_another_row_or_column_does_not_open(
    members: tuple[Membership, Membership], provider_kind: str
) -> None:
    vault = _vault(OLD, provider_kind)
    mine, theirs = (_connection(member, vault) for member in members)
    theirs.refresh_token_ciphertext = mine.refresh_token_ciphertext
    theirs.refresh_token_key_id = mine.refresh_token_key_id
    with pytest.raises(TokenUnreadableError):
        vault.refresh_token(theirs)
    mine.access_token_ciphertext = mine.refresh_token_ciphertext
    mine.access_token_key_id = mine.refresh_token_key_id
    with pytest.raises(TokenUnreadableError):
        vault.access_token(mine)


def test_a_damaged_ciphertext_or_unknown_key_does_not_open(members: tuple[Membership, Membership]) -> None:
    vault = _vault(OLD)
    connection = _connection(members[0], vault)
    blob = bytearray(connection.refresh_token_ciphertext or b"")
    blob[-1] ^= 1
    connection.refresh_token_ciphertext = bytes(blob)
    with pytest.raises(TokenUnreadableError):
        vault.refresh_token(connection)
    connection.access_token_key_id = "no-such-key"
    with pytest.raises(TokenUnreadableError) as failed:
        vault.access_token(connection)
    assert "no-such-key" in str(failed.value)
    assert ACCESS not in str(failed.value)


def test_rotation_moves_every_secret_to_the_primary_and_the_old_key_can_retire(
    members: tuple[Membership, Membership], provider_kind: str
) -> None:
    old_vault = _vault(OLD, provider_kind)
    connections = [_connection(member, old_vault) for member in members]
    pending = ConsentRequest(
        state_hash="0" * 64,
        browser_hash="1" * 64,
        account_id=members[0].account_id,
        user_id=members[0].user_id,
    )
    db.session.add(pending)
    db.session.flush()
    old_vault.store_verifier(pending, "verifier-plaintext")
    db.session.commit()

    both = _vault(f"{NEW},{OLD}", provider_kind)
    report = both.rotate_all(db.session())
    assert (report.rotated, report.already_current, report.unreadable) == (3, 0, 0)
    again = both.rotate_all(db.session())
    assert (again.rotated, again.already_current, again.unreadable) == (0, 3, 0)

    retired = _vault(NEW, provider_kind)
    db.session.expire_all()
    for connection in db.session.scalars(select(GoogleConnection)):
        assert connection.refresh_token_key_id == connection.access_token_key_id == "new"
        assert retired.refresh_token(connection) == REFRESH
        access = retired.access_token(connection)
        assert access is not None
        assert access.token == ACCESS
    assert retired.verifier(db.session.scalars(select(ConsentRequest)).one()) == "verifier-plaintext"
    with pytest.raises(TokenUnreadableError):
        old_vault.refresh_token(connections[0])


def test_rotation_flags_what_no_configured_key_opens(members: tuple[Membership, Membership]) -> None:
    readable = _connection(members[0], _vault(NEW))
    lost = _connection(members[1], _vault(OLD))
    report = _vault(NEW).rotate_all(db.session())
    assert (report.rotated, report.already_current, report.unreadable) == (0, 1, 1)
    db.session.expire_all()
    assert readable.status is ConnectionStatus.CONNECTED
    assert lost.status is ConnectionStatus.NEEDS_RECONNECT
    assert lost.status_reason is StatusReason.TOKEN_UNREADABLE


def test_an_undecryptable_token_marks_needs_reconnect_and_alerts_without_secrets(
    app: Flask, members: tuple[Membership, Membership], caplog: pytest.LogCaptureFixture
) -> None:
    member = members[0]
    accept_disclosure(member)
    connection = _connection(member, _vault(OLD))
    ciphertext = (connection.access_token_ciphertext or b"").hex()
    source = UserOAuthCredentialsSource(
        db.session(), TokenVault.for_settings(settings_of(app)), settings_of(app)
    )
    caplog.set_level(logging.ERROR)
    with pytest.raises(ConnectionUnusableError) as failed:
        source.credentials_for(connection)
    assert failed.value.reason is StatusReason.TOKEN_UNREADABLE
    db.session.expire_all()
    assert connection.status is ConnectionStatus.NEEDS_RECONNECT
    alerts = [r for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 1
    text = alerts[0].getMessage()
    assert "old" in text
    for secret in (ACCESS, REFRESH, ciphertext[:32]):
        assert secret not in text


def test_keyring_spec_errors_name_the_problem() -> None:
    with pytest.raises(KeyUnavailableError, match="32 bytes"):
        parse_keyring("k1:" + "A" * 20)
    with pytest.raises(KeyUnavailableError, match="listed twice"):
        parse_keyring(f"{OLD},{OLD}")
    with pytest.raises(KeyUnavailableError, match="keyid:base64key"):
        parse_keyring("no-colon-here")
    primary, keys = parse_keyring(f"{NEW},{OLD}")
    assert primary == "new"
    assert set(keys) == {"new", "old"}


def test_demo_mode_without_keys_generates_a_private_keyring_once(app: Flask, tmp_path: Path) -> None:
    settings = replace(settings_of(app), token_keys="", instance_path=tmp_path)
    first = provider_for(settings)
    keyring_file = tmp_path / DEMO_KEYRING_FILE
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    second = provider_for(settings)
    assert first.primary_key_id == second.primary_key_id
    assert isinstance(provider_for(replace(settings, vault_key_provider="ENVELOPE")), EnvelopeProvider)


def test_keys_commands_generate_and_rotate(app: Flask, members: tuple[Membership, Membership]) -> None:
    configured = settings_of(app).token_keys
    connection = _connection(members[0], _vault(configured))
    generated = app.test_cli_runner().invoke(args=["keys", "generate", "--key-id", "k2"])
    assert generated.exit_code == 0, generated.output
    spec = generated.output.strip()
    assert spec.startswith("k2:")
    assert parse_keyring(spec)[0] == "k2"

    rotated_app = create_app(replace(settings_of(app), token_keys=f"{spec},{configured}"))
    try:
        with rotated_app.app_context():
            runner = rotated_app.test_cli_runner()
            first = runner.invoke(args=["keys", "rotate"])
            assert first.exit_code == 0, first.output
            assert "1 re-encrypted" in first.output
            second = runner.invoke(args=["keys", "rotate"])
            assert "0 re-encrypted, 1 already current" in second.output
            db.session.remove()
    finally:
        with rotated_app.app_context():
            db.engine.dispose()
    db.session.expire_all()
    assert connection.refresh_token_key_id == "k2"
    assert _vault(spec).refresh_token(connection) == REFRESH


@pytest.mark.parametrize("mode", ["production", "development"])
def test_outside_demo_and_test_the_app_refuses_to_start_without_a_key(mode: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"GROUPSYNC_ENV": mode, "GROUPSYNC_SECRET_KEY": "s" * 40})
    assert any("GROUPSYNC_TOKEN_KEYS" in problem for problem in refused.value.problems)


class _RemoteKek:
    """Stands in for a Cloud KMS or Vault transit key: only wrap and unwrap cross the boundary."""

    def __init__(self) -> None:
        self._inner = LocalKeyEncryptionKey("kms-key-1", bytes(range(32)))
        self.calls: list[str] = []

    @property
    def key_id(self) -> str:
        return "projects/demo/cryptoKeys/tokens"

    def wrap(self, data_key: bytes) -> bytes:
        self.calls.append("wrap")
        return self._inner.wrap(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        self.calls.append("unwrap")
        return self._inner.unwrap(wrapped)


def test_a_remote_key_encryption_key_plugs_into_the_envelope_provider(
    members: tuple[Membership, Membership],
) -> None:
    kek = _RemoteKek()
    vault = TokenVault(EnvelopeProvider(kek.key_id, {kek.key_id: kek}))
    connection = _connection(members[0], vault)
    assert connection.refresh_token_key_id == kek.key_id
    assert vault.refresh_token(connection) == REFRESH
    assert kek.calls == ["wrap", "wrap", "unwrap"]
