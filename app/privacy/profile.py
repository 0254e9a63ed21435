"""A person's own choices: the name and notice address they set (rectification), and age confirmation."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from app.accounts.models import User
from app.address_reasons import email_reason
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import gettext

MAX_NAME = 200


class ProfileError(Exception):
    """What the person typed cannot be saved; the message names the field, in the reader's language."""


def update_profile(session: DbSession, user: User, *, name: str, notice_email: str) -> None:
    """Save the person's own name and notice address; their Google sign-in no longer replaces the name."""
    problems = []
    chosen = " ".join(name.split())
    if not chosen or len(chosen) > MAX_NAME:
        problems.append(gettext("Name must be 1 to %(max)s characters.", max=MAX_NAME))
    address = notice_email.strip()
    if address:
        try:
            address = str(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            problems.append(
                gettext(
                    "E-mail for notices is not valid: %(problem)s", problem=email_reason(exc).translated()
                )
            )
    if problems:
        raise ProfileError(" ".join(problems))
    with unit_of_work(session):
        user.name, user.name_chosen, user.notice_email = chosen, True, address


def notice_address(user: User) -> str:
    """Where notices to the person go: the address they chose, else the one they sign in with."""
    return user.notice_email or user.email


def confirm_age(session: DbSession, user: User) -> None:
    with unit_of_work(session):
        if user.age_confirmed_at is None:
            user.age_confirmed_at = utcnow()
