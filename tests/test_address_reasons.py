"""The reasons given for a refused e-mail address or phone number: GroupSync's words, in every language."""

from __future__ import annotations

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask_babel import refresh

from app.address_reasons import Phrase, email_reason, phone_reason
from app.extensions import shown_message


def _email_reason(address: str) -> Phrase:
    with pytest.raises(EmailNotValidError) as refused:
        validate_email(address, check_deliverability=False)
    return email_reason(refused.value)


@pytest.mark.parametrize(
    ("address", "english"),
    [
        ("olena.example.com", "it has no @ sign"),
        ("olena\uff20example.com", "it has no @ sign"),
        ("@example.com", "nothing comes before the @ sign"),
        ("olena@", "the domain after the @ sign is missing"),
        ("olena@" + "d" * 300 + ".com", "it is too long"),
        (
            "<olena@example.com>",
            "only a plain address is allowed, without quotes, a display name or angle brackets",
        ),
        (
            '"olena"@example.com',
            "only a plain address is allowed, without quotes, a display name or angle brackets",
        ),
        (
            "olena@example..com",
            "a period or hyphen is out of place (at the start or end of a part, or two in a row)",
        ),
        (
            ".olena@example.com",
            "a period or hyphen is out of place (at the start or end of a part, or two in a row)",
        ),
        (
            "olena@-example.com",
            "a period or hyphen is out of place (at the start or end of a part, or two in a row)",
        ),
        ("olena@localhost", "the domain after the @ sign is not valid"),
        ("olena@example." + "a" * 64 + ".com", "it is too long"),
        ("olena@example.invalid", "the domain after the @ sign is not valid"),
        ("olena@[192.0.2.1]", "the domain after the @ sign is not valid"),
        ("ol ena@example.com", "the part before the @ sign has characters that are not allowed: U+0020"),
        ("olena@exa_mple.com", "the domain after the @ sign has characters that are not allowed: _"),
        ("olena@@example.com", "the domain after the @ sign has characters that are not allowed: @"),
        ("ol\u200bena@example.com", "it has characters that are not allowed: U+200B"),
    ],
)
def test_each_refusal_of_email_validator_becomes_one_of_our_reasons(address: str, english: str) -> None:
    assert _email_reason(address).english == english


def test_an_explanation_we_do_not_recognise_gives_the_general_reason() -> None:
    assert email_reason(EmailNotValidError("Something new went wrong.")).english == (
        "it is not written as name@example.com"
    )


@pytest.mark.parametrize(
    ("number", "english"),
    [
        (
            "+999 123 456",
            "its country calling code is missing or unknown (start it with + and the country code)",
        ),
        ("+1", "it does not look like a phone number"),
        ("+380 1", "it is too short"),
        ("+1234567890123456789012", "it is too long"),
    ],
)
def test_each_kind_of_phonenumbers_error_has_a_reason(number: str, english: str) -> None:
    with pytest.raises(phonenumbers.NumberParseException) as refused:
        phonenumbers.parse(number, None)
    assert phone_reason(refused.value).english == english


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("uk", ["немає знака @", "частина перед знаком @ містить недозволені символи: U+0020"]),
        ("ru", ["нет знака @", "часть перед знаком @ содержит недопустимые символы: U+0020"]),
        (
            "en",
            ["it has no @ sign", "the part before the @ sign has characters that are not allowed: U+0020"],
        ),
    ],
)
def test_a_reason_is_shown_and_stored_in_the_reader_language(
    app: Flask, language: str, expected: list[str]
) -> None:
    reasons = [_email_reason("olena.example.com"), _email_reason("ol ena@example.com")]
    with app.test_request_context(headers={"Accept-Language": language}):
        refresh()  # the locale is cached on the test's application context
        assert [reason.translated() for reason in reasons] == expected
        assert [shown_message(reason.stored()) for reason in reasons] == expected
