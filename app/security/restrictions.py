"""An account's address and time-of-day rules: changing them (second factor, lock-out guard), applying them.

Every change and every refusal is written to the account audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.accounts.models import LoginSession, Membership
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.google.vault import TokenVault
from app.security import audit
from app.security.access import (
    Channel,
    Refusal,
    RuleError,
    Rules,
    decide,
    parse_hours,
    parse_networks,
    parse_zone,
)
from app.security.audit import AuditAction
from app.security.passkeys import Purpose, RelyingParty, check_assertion, take_challenge
from app.security.services import (
    RULE_FIELDS,
    RULE_LABELS,
    Policy,
    SecurityError,
    confirmed_factor,
    has_second_factor,
    matching_counter,
    policy_of,
    policy_row,
    totp_secret,
)


def update_access_rules(
    session: DbSession,
    vault: TokenVault,
    admin: Membership,
    *,
    code: str,
    values: dict[str, str],
    address: str,
    passkey: PasskeyProof | None = None,
    now: datetime | None = None,
) -> Policy:
    """Change the account's address and hours rules, confirmed with a fresh code or a passkey.

    An admin who has passkeys may sign the change with one instead of giving an authenticator
    code (``passkey``: the browser's answer to this session's ``confirm`` challenge).

    Refused when the new web address ranges would not admit ``address``, the admin's own
    current address: a rule change can therefore never lock out the admin who makes it, so
    never the last one. Hours are not held to that, since a time window opens again by itself.
    """
    moment = now or utcnow()
    # Taken first: a presented answer uses its challenge up, even if the rules below are refused.
    challenge = take_challenge(session, passkey.login, Purpose.CONFIRM, moment) if passkey else None
    texts = {name: values.get(name, "").strip() for name in RULE_FIELDS}
    problems: list[str] = []
    parsed: dict[str, object] = {}
    for name, label in RULE_LABELS.items():
        try:
            parse = parse_networks if name.endswith("networks") else parse_hours
            parsed[name] = parse(texts[name], str(label))
        except RuleError as exc:
            problems.append(str(exc))
    try:
        texts["time_zone"] = parse_zone(texts["time_zone"])
    except RuleError as exc:
        problems.append(str(exc))
    if problems:
        raise SecurityError(" ".join(problems))
    web = Rules(parse_networks(texts["web_networks"], ""), None)
    if decide(web, Channel.WEB, address, moment, texts["time_zone"]) is not None:
        raise SecurityError(
            _(
                "These address ranges would lock you out: your current address %(address)s is not "
                "in them. Add it (or a range that holds it) and save again.",
                address=address or _("unknown"),
            )
        )
    with unit_of_work(session) as work:
        if passkey is not None:
            if challenge is None or not check_assertion(
                work, passkey.rp, admin, challenge=challenge, credential=passkey.credential, now=moment
            ):
                raise SecurityError(
                    _l("The passkey confirmation expired or was not right. Please try again.")
                )
        else:
            _check_code(work, vault, admin, code, moment)
        row = policy_row(work, admin.account_id)
        before = {name: getattr(row, name) or "" for name in RULE_FIELDS}
        for name in RULE_FIELDS:
            setattr(row, name, texts[name])
        row.updated_at = moment
        changes: dict[str, str | int | bool | None] = {}
        for name in RULE_FIELDS:
            if before[name] != texts[name]:
                changes[f"{name}_from"] = before[name].replace("\n", " ")[:300]
                changes[f"{name}_to"] = texts[name].replace("\n", " ")[:300]
        audit.record(
            work,
            admin.account_id,
            AuditAction.ACCESS_RULES_CHANGED,
            actor_user_id=admin.user_id,
            detail=changes,
            now=moment,
        )
    return policy_of(session, admin.account_id)


@dataclass(frozen=True)
class PasskeyProof:
    """A passkey's answer to the admin's ``confirm`` challenge, with what is needed to check it."""

    rp: RelyingParty
    login: LoginSession
    credential: str


def _check_code(work: DbSession, vault: TokenVault, admin: Membership, code: str, moment: datetime) -> None:
    factor = confirmed_factor(work, admin.id)
    if factor is None:
        if has_second_factor(work, admin.id):
            raise SecurityError(_l("Confirm the change with your passkey."))
        raise SecurityError(_l("Set up a second factor for yourself before changing these rules."))
    counter = matching_counter(totp_secret(vault, factor), code, factor.last_counter, moment)
    if counter is None:
        raise SecurityError(_l("The code from your authenticator app is missing or not right."))
    factor.last_counter = counter


def check_access(
    session: DbSession,
    account_id: int,
    channel: Channel,
    address: str,
    *,
    user_id: int | None = None,
    api_key_id: int | None = None,
    now: datetime | None = None,
) -> Refusal | None:
    """Apply the account's rules to a request; a refusal is recorded in the audit log."""
    moment = now or utcnow()
    policy = policy_of(session, account_id)
    refusal = decide(policy.rules(channel), channel, address, moment, policy.time_zone)
    if refusal is not None:
        detail: dict[str, str | int | bool | None] = {"channel": channel.value, "rule": refusal.code}
        detail["address"] = address[:45]
        if api_key_id is not None:
            detail["api_key_id"] = api_key_id
        with unit_of_work(session) as work:
            audit.record(
                work,
                account_id,
                AuditAction.ACCESS_REFUSED,
                actor_user_id=user_id,
                outcome="refused",
                detail=detail,
                now=moment,
            )
    return refusal
