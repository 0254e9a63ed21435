"""Values Google could not hold, in the reader's language: the field by its CRM name, the reason in words."""

from __future__ import annotations

import pytest
from flask import Flask

from app.sync.mapping import NotCarried
from app.sync.words import field_words, not_carried_words, reason_words


@pytest.mark.parametrize(
    ("language", "birthday", "reason"),
    [
        ("en", "date of birth", "not a valid calendar date"),
        ("uk", "дата народження", "не є коректною календарною датою"),
        ("ru", "дата рождения", "не является корректной календарной датой"),
    ],
)
def test_a_reported_value_reads_in_the_readers_language(
    app: Flask, language: str, birthday: str, reason: str
) -> None:
    with app.test_request_context(headers={"Accept-Language": language}):
        assert (
            not_carried_words(NotCarried("birthday", "not a valid calendar date")) == f"{birthday} — {reason}"
        )


def test_paths_and_reasons_with_numbers(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "uk"}):
        assert field_words("name.givenName") == "ім'я"
        assert reason_words("longer than 1024 characters (2000)") == "довше за 1024 символів (2000)"
        # Anything the table does not know is shown as recorded rather than dropped.
        assert field_words("unknownField") == "unknownField"
        assert reason_words("something new") == "something new"
