"""Why an e-mail address or a phone number was refused, in GroupSync's own translatable words.

email-validator and phonenumbers explain a refusal in English only, and email-validator has no
error codes, so its explanation is sorted into one of a few reasons by the words it uses (the
checks below run in order; an explanation they do not recognise gives the general reason). The
characters it names are shown as themselves, or as ``U+XXXX`` when they are invisible, never by
their English Unicode names. Each reason is a message id marked with ``N_`` and its parameters,
translated when it is shown, so a CSV report, a flash message or an API error says the same thing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Final

import phonenumbers
from email_validator import EmailNotValidError

from app.extensions import N_, gettext, stored_message


@dataclass(frozen=True)
class Phrase:
    """A translatable phrase with its parameters: a reason here, a parameter of a CRM ``FieldError``."""

    msgid: str
    """Marked with ``N_``."""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def english(self) -> str:
        return self.msgid % self.params if self.params else self.msgid

    def stored(self) -> str:
        """As an :func:`app.extensions.stored_message`, translated when it is shown."""
        return stored_message(self.msgid, **self.params)

    def translated(self) -> str:
        """In the current request's language."""
        return gettext(self.msgid, **self.params)


_CHARACTERS_BEFORE_AT = N_("the part before the @ sign has characters that are not allowed: %(characters)s")
_CHARACTERS_AFTER_AT = N_("the domain after the @ sign has characters that are not allowed: %(characters)s")
_CHARACTERS = N_("it has characters that are not allowed: %(characters)s")
_DOMAIN_NOT_VALID = N_("the domain after the @ sign is not valid")

_EMAIL_RULES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("must have an @-sign", "instead of a regular at-sign"), N_("it has no @ sign")),
    (("something before the @-sign",), N_("nothing comes before the @ sign")),
    (("something after the @-sign",), N_("the domain after the @ sign is missing")),
    (("too long", "separated by so many characters"), N_("it is too long")),
    (("should have a period", "top-level domain"), _DOMAIN_NOT_VALID),
    (
        ("quot", "display name", "angle bracket", "after the email address"),
        N_("only a plain address is allowed, without quotes, a display name or angle brackets"),
    ),
    (
        ("period", "hyphen", "two letters followed by two dashes"),
        N_("a period or hyphen is out of place (at the start or end of a part, or two in a row)"),
    ),
    (("after the @-sign",), _DOMAIN_NOT_VALID),
)


def _shown_character(item: str) -> str:
    """One character as email-validator names it (``'_'`` or ``SPACE``), written language-neutrally."""
    if len(item) >= 3 and item[0] == item[-1] and item[0] in "'\"":
        char = item[1:-1]
    else:
        try:
            char = unicodedata.lookup(item)
        except KeyError:
            return item
    if len(char) == 1 and unicodedata.category(char)[0] in "LNPS":
        return char
    return ", ".join(f"U+{ord(c):04X}" for c in char)


def _characters(explanation: str) -> str:
    listed = explanation.rsplit(": ", 1)[-1].rstrip(".")
    return " ".join(_shown_character(item.strip()) for item in listed.split(", "))


def email_reason(error: EmailNotValidError) -> Phrase:
    """Why email-validator refused an address, as one of GroupSync's reasons."""
    explanation = str(error).removeprefix("After Unicode normalization: ")
    lowered = explanation.lower()
    if "characters" in lowered and ": " in explanation:
        if "before the @-sign" in lowered:
            msgid = _CHARACTERS_BEFORE_AT
        elif "after the @-sign" in lowered:
            msgid = _CHARACTERS_AFTER_AT
        else:
            msgid = _CHARACTERS
        return Phrase(msgid, {"characters": _characters(explanation)})
    for words, msgid in _EMAIL_RULES:
        if any(word in lowered for word in words):
            return Phrase(msgid)
    return Phrase(N_("it is not written as name@example.com"))


_PHONE_REASONS: Final[dict[int, str]] = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: N_(
        "its country calling code is missing or unknown (start it with + and the country code)"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: N_("it does not look like a phone number"),
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: N_("it is too short"),
    phonenumbers.NumberParseException.TOO_SHORT_NSN: N_("it is too short"),
    phonenumbers.NumberParseException.TOO_LONG: N_("it is too long"),
}


def phone_reason(error: phonenumbers.NumberParseException) -> Phrase:
    """Why phonenumbers could not read a number (it reports a kind of error, so no guessing here)."""
    return Phrase(_PHONE_REASONS.get(error.error_type, N_("it does not look like a phone number")))
