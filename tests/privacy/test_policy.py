# ruff: noqa: RUF001 - Ukrainian and Russian texts beside Latin names
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.config import ConfigError, Settings
from app.privacy.policy import (
    DEFAULT_DIR,
    REQUIRED_STATEMENTS,
    TRANSLATED_STATEMENTS,
    PolicyError,
    current_policy,
    current_policy_version,
    languages_of,
    load,
    missing_statements,
    upcoming_policy,
)

LIMITED_USE = (
    "GroupSync's use and transfer to any other app of information received from Google APIs will adhere "
    "to the Google API Services User Data Policy, including the Limited Use requirements."
)
AI_ML = "Google Workspace API data is not used to develop, improve or train generalized AI/ML models."


def _write_versions(directory: Path, *titles: str) -> None:
    shipped = (DEFAULT_DIR / "v1.md").read_text(encoding="utf-8")
    for number, title in enumerate(titles, start=1):
        (directory / f"v{number}.md").write_text(shipped.replace("# GroupSync privacy policy", f"# {title}"))


@pytest.fixture
def operator_policy(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _write_versions(tmp_path, "Acme policy one", "Acme policy two")
    settings = app.config["GROUPSYNC"].with_overrides(privacy_policy_dir=tmp_path)
    monkeypatch.setitem(app.config, "GROUPSYNC", settings)
    return tmp_path


def _text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return " ".join(response.get_data(as_text=True).replace("&#39;", "'").split())


def test_shipped_policy_states_limited_use_and_ai_ml(client: FlaskClient) -> None:
    page = _text(client, "/privacy")
    plain = re.sub(r"<[^>]+>", "", page)
    assert LIMITED_USE in plain
    assert AI_ML in plain
    assert 'href="https://developers.google.com/terms/api-services-user-data-policy"' in page
    assert f'data-version="{current_policy_version()}"' in page


def test_shipped_policy_names_the_operator_and_prints_retention_from_settings(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.config["GROUPSYNC"].with_overrides(retention_connection_days=91, retention_ledger_days=777)
    monkeypatch.setitem(app.config, "GROUPSYNC", settings)
    page = _text(client, "/privacy")
    operator = settings.operator
    assert f"operated by {operator.legal_name}, {operator.address}." in page
    assert f"For help write to {operator.support_email}." in page
    assert f"data-protection contact: {operator.privacy_email}." in page
    assert "A Google connection unused for 91 days is disconnected automatically" in page
    assert "Flow records older than 777 days are deleted automatically." in page
    assert "{{" not in page
    assert "the operator will notify you and Google" in page


@pytest.mark.parametrize(
    "changed",
    [
        ("will adhere to the", "will not adhere to the"),
        ("GroupSync's use and transfer", "Sometimes, GroupSync's use and transfer"),
        ("is not used to develop", "is not used, this year, to develop"),
        ("models.**", "models, unless we change our mind.**"),
    ],
)
def test_required_sentences_must_appear_word_for_word(
    app: Flask, operator_policy: Path, changed: tuple[str, str]
) -> None:
    path = operator_policy / "v3.md"
    original = (operator_policy / "v2.md").read_text()
    assert changed[0] in original
    path.write_text(original.replace(changed[0], changed[1]))
    with pytest.raises(PolicyError, match=r"v3\.md lacks the required sentence\(s\), word for word"):
        current_policy()


def test_required_sentences_pass_across_line_breaks_links_and_emphasis() -> None:
    text = (
        "Intro.\n\nGroupSync's use and transfer to any other app of information received from Google APIs\n"
        "will adhere to the [Google API Services User Data Policy](https://example.test/policy),\n"
        "including the Limited Use requirements.\n\n**Google Workspace API data is not used to develop,"
        " improve or train generalized AI/ML models.** More text.\n"
    )
    assert missing_statements(text) == []
    assert missing_statements(text.replace("will adhere", "will, where practical, adhere")) == [
        REQUIRED_STATEMENTS[0]
    ]


def test_unknown_placeholder_is_refused_naming_it(app: Flask, operator_policy: Path) -> None:
    path = operator_policy / "v3.md"
    path.write_text((operator_policy / "v2.md").read_text() + "\nCall {{ operator_phone }}.\n")
    with pytest.raises(PolicyError, match=r"unknown placeholder\(s\) operator_phone"):
        current_policy()


def test_version_effective_later_is_upcoming_not_current(
    app: Flask, client: FlaskClient, operator_policy: Path
) -> None:
    later = (operator_policy / "v2.md").read_text()
    later = re.sub(r"Effective: \S+", "Effective: 2999-01-01", later).replace("Acme policy two", "Acme three")
    (operator_policy / "v3.md").write_text(later)
    assert current_policy_version() == "v2"
    upcoming = upcoming_policy()
    assert upcoming is not None
    assert upcoming.version == "v3"
    page = _text(client, "/privacy")
    assert "Acme policy two" in page
    assert "A new version takes effect on Jan 1, 2999" in page
    future = _text(client, "/privacy/v/3")
    assert "It takes effect on Jan 1, 2999" in future
    assert 'data-testid="policy-archived"' not in future


def test_operator_versions_current_and_archived(client: FlaskClient, operator_policy: Path) -> None:
    current = _text(client, "/privacy")
    assert "Acme policy two" in current
    assert 'href="/privacy/v/1"' in current
    archived = _text(client, "/privacy/v/1")
    assert "Acme policy one" in archived
    assert 'data-testid="policy-archived"' in archived
    assert client.get("/privacy/v/3").status_code == 404
    assert current_policy_version() == "v2"


def test_new_file_changes_current_version(app: Flask, operator_policy: Path) -> None:
    assert current_policy_version() == "v2"
    _write_versions(operator_policy, "one", "two", "three")
    assert current_policy_version() == "v3"
    assert current_policy().markdown.startswith("# three")


def test_operator_html_is_escaped(client: FlaskClient, operator_policy: Path) -> None:
    path = operator_policy / "v2.md"
    path.write_text(path.read_text() + "\n<script>alert(1)</script>\n")
    assert "<script>alert" not in client.get("/privacy").get_data(as_text=True)


def test_version_without_required_statement_is_refused_naming_it(app: Flask, operator_policy: Path) -> None:
    (operator_policy / "v3.md").write_text("# Short policy\n\nWe follow the Limited Use requirements.\n")
    with pytest.raises(
        PolicyError, match=r"v3\.md lacks the required sentence\(s\), word for word: GroupSync's"
    ):
        current_policy()


def test_policy_dir_setting_is_validated(tmp_path: Path) -> None:
    env = {"GROUPSYNC_ENV": "test", "GROUPSYNC_PRIVACY_POLICY_DIR": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match="GROUPSYNC_PRIVACY_POLICY_DIR must be a directory"):
        Settings.from_env(env, instance_path=tmp_path)
    _write_versions(tmp_path, "ok")
    env["GROUPSYNC_PRIVACY_POLICY_DIR"] = str(tmp_path)
    assert Settings.from_env(env, instance_path=tmp_path).privacy_policy_dir == tmp_path


# --------------------------------------------------------------------------- languages

SHOWN_VERSIONS = (2, 3)
"""The version in force when this was written (v2) and the upcoming one (v3): every text users are shown."""


@pytest.mark.parametrize("number", SHOWN_VERSIONS)
def test_the_shipped_versions_users_are_shown_exist_in_all_three_languages(number: int) -> None:
    assert languages_of(DEFAULT_DIR, number) == ["en", "ru", "uk"]
    english = load(DEFAULT_DIR, number)
    for language in ("uk", "ru"):
        translated = load(DEFAULT_DIR, number, language)
        assert translated.language == language
        assert translated.source.name == f"v{number}.{language}.md"
        assert translated.effective == english.effective
        assert missing_statements(translated.markdown, TRANSLATED_STATEMENTS[language]) == []
        # The same sections, list items and placeholders as the English text: nothing dropped or added.
        for pattern in (r"(?m)^#+ ", r"(?m)^- ", r"\{\{ \w+ \}\}", r"\*\*"):
            assert len(re.findall(pattern, translated.markdown)) == len(
                re.findall(pattern, english.markdown)
            ), (
                language,
                pattern,
            )


def test_the_version_in_force_and_the_upcoming_one_are_translated(app: Flask) -> None:
    upcoming = upcoming_policy()
    shown = {current_policy().number} | ({upcoming.number} if upcoming else set())
    assert all(languages_of(DEFAULT_DIR, number) == ["en", "ru", "uk"] for number in shown)
    assert shown <= set(SHOWN_VERSIONS)


@pytest.mark.parametrize(
    ("language", "title", "statement"),
    [
        ("en", "GroupSync privacy policy", AI_ML),
        ("uk", "Політика конфіденційності GroupSync", TRANSLATED_STATEMENTS["uk"][1]),
        ("ru", "Политика конфиденциальности GroupSync", TRANSLATED_STATEMENTS["ru"][1]),
    ],
)
def test_the_policy_page_shows_the_reader_language(
    client: FlaskClient, language: str, title: str, statement: str
) -> None:
    for path in ("/privacy", "/privacy/v/3"):
        response = client.get(path, headers={"Accept-Language": language})
        page = " ".join(response.get_data(as_text=True).split())
        plain = re.sub(r"<[^>]+>", "", page)
        assert f'lang="{language}"' in page
        assert title in plain
        assert statement in plain
        assert 'data-testid="policy-language-note"' not in page


def test_an_untranslated_version_shows_english_with_a_note(
    client: FlaskClient, operator_policy: Path
) -> None:
    response = client.get("/privacy", headers={"Accept-Language": "uk"})
    page = response.get_data(as_text=True)
    assert "Acme policy two" in page
    assert 'data-testid="policy-language-note"' in page


def test_a_translation_without_its_language_statement_is_refused(app: Flask, operator_policy: Path) -> None:
    shipped = (DEFAULT_DIR / "v2.uk.md").read_text(encoding="utf-8")
    english = (operator_policy / "v2.md").read_text(encoding="utf-8")
    date_line = re.search(r"Effective: \S+", english)
    assert date_line is not None
    translated = re.sub(r"Чинна з: \S+", date_line.group(0).replace("Effective", "Чинна з"), shipped)
    (operator_policy / "v2.uk.md").write_text(translated, encoding="utf-8")
    assert current_policy(language="uk").language == "uk"
    # The English sentence alone does not stand in for the Ukrainian one.
    dropped = translated.replace(TRANSLATED_STATEMENTS["uk"][0].split(",")[0], "Інколи")
    (operator_policy / "v2.uk.md").write_text(dropped + "\n" + LIMITED_USE + "\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"v2\.uk\.md lacks the required sentence"):
        current_policy(language="uk")


def test_a_translation_with_another_effective_date_is_refused(app: Flask, operator_policy: Path) -> None:
    shipped = (DEFAULT_DIR / "v2.ru.md").read_text(encoding="utf-8")
    (operator_policy / "v2.ru.md").write_text(
        re.sub(r"Действует с: \S+", "Действует с: 2999-01-01", shipped), encoding="utf-8"
    )
    with pytest.raises(PolicyError, match=r"v2\.ru\.md takes effect on 2999-01-01, but its English text"):
        current_policy(language="ru")


@pytest.mark.parametrize(
    ("language", "unfreeze", "passkey"),
    [
        ("en", '"Unfreeze the account"', "it never receives your biometrics or the private key"),
        (
            "uk",
            "«Розморозити обліковий запис»",
            "ваших біометричних даних і закритого ключа GroupSync ніколи",
        ),
        ("ru", "«Разморозить аккаунт»", "ваших биометрических данных и закрытого ключа GroupSync никогда"),
    ],
)
def test_the_upcoming_policy_states_the_inactive_account_periods_and_what_a_passkey_keeps(
    app: Flask, language: str, unfreeze: str, passkey: str
) -> None:
    settings = app.config["GROUPSYNC"].with_overrides(
        inactive_freeze_days=400, inactive_warn_days=9, inactive_unfreeze_days=31, inactive_copy_days=181
    )
    text = " ".join(load(DEFAULT_DIR, 3, language).filled(settings).split())
    assert [day in text for day in (" 400 ", " 9 ", " 31 ", " 181 ")] == [True] * 4
    assert unfreeze in text
    assert passkey in text
    assert "{{" not in text
