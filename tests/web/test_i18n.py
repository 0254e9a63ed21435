"""Every text a person reads is marked for translation and translated into Ukrainian, English and Russian;
the language and time zone follow the user's choice, else the browser."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import Environment, FileSystemLoader, nodes

from app.accounts.models import Membership, Role, User
from app.extensions import db, ngettext
from app.web import i18n

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = (ROOT / "app" / "templates", ROOT / "emulator" / "groupsync_emulator" / "templates")
CATALOGUES = {
    "app": (ROOT / "babel.cfg", ROOT, ROOT / "app" / "translations"),
    "emulator": (
        ROOT / "emulator" / "babel.cfg",
        ROOT / "emulator",
        ROOT / "emulator" / "groupsync_emulator" / "translations",
    ),
}
LANGUAGES = ("uk", "en", "ru")

# Names and notation that read the same in every language.
UNTRANSLATED = {"GroupSync", "CSV", "NDJSON", "Google", "v", "Google emulator"}
_GAP = "\x00"
"""Stands where an expression or tag sat between two pieces of literal text."""
_VISIBLE_ATTRIBUTES = re.compile(r'\b(?:title|placeholder|aria-label|alt)="([^"\x00]*)"')
_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"[^\W\d_]{2,}")


# The report inside an evidence pack is part of the record, written by the worker outside any
# request, in English like verify.py and FORMAT.md beside it: it is a document, not a page.
NOT_PAGES = {ROOT / "app" / "templates" / "ledger" / "pack_report.html"}


def _templates() -> Iterator[Path]:
    for directory in TEMPLATE_DIRS:
        yield from (path for path in sorted(directory.rglob("*.html")) if path not in NOT_PAGES)


def _literal_text(environment: Environment, path: Path) -> str:
    """The template's literal text in order (text inside trans blocks is not literal text)."""
    tree = environment.parse(path.read_text(encoding="utf-8"))
    return _GAP.join(node.data for node in tree.find_all(nodes.TemplateData))


def untranslated_text(environment: Environment, path: Path) -> list[str]:
    """Words a reader would see in ``path`` that no gettext call or trans block wraps."""
    found = []
    literal = _literal_text(environment, path)
    visible = html.unescape(_TAG.sub(_GAP, literal)).split(_GAP) + _VISIBLE_ATTRIBUTES.findall(literal)
    for text in visible:
        cleaned = " ".join(text.split())
        if cleaned in UNTRANSLATED:
            continue
        if any(word not in UNTRANSLATED for word in _WORD.findall(cleaned)):
            found.append(cleaned)
    return found


@pytest.fixture(scope="module")
def template_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
    )


@pytest.mark.parametrize("path", list(_templates()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_template_text_is_marked_for_translation(template_environment: Environment, path: Path) -> None:
    assert untranslated_text(template_environment, path) == []


def test_the_template_check_finds_unmarked_text(template_environment: Environment, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '<p>{{ _("Marked") }}</p><h1>Not marked</h1><input placeholder="Customers">'
        "<a title=\"{{ _('x') }}\">GroupSync</a>{% trans %}In a block{% endtrans %}",
        encoding="utf-8",
    )
    assert untranslated_text(template_environment, page) == ["Not marked", "Customers"]


def _extracted(config: Path, root: Path) -> set[str]:
    with config.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None}
    return {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(root), method_map, options_map, keywords=keywords)
    }


def _catalogue(directory: Path, language: str) -> Catalog:
    with (directory / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("part", sorted(CATALOGUES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_in_every_catalogue(part: str, language: str) -> None:
    config, root, translations = CATALOGUES[part]
    catalogue = _catalogue(translations, language)
    translated = {
        (message.id if isinstance(message.id, str) else message.id[0]): message
        for message in catalogue
        if message.id
    }
    missing = sorted(_extracted(config, root) - set(translated))
    assert missing == [], f"{language} catalogue of {part} lacks messages (run pybabel extract/update)"
    for key, message in translated.items():
        strings = (message.string,) if isinstance(message.string, str) else message.string
        assert all(strings), f"{language}: {key!r} has no translation"
        assert "fuzzy" not in message.flags, f"{language}: {key!r} is marked fuzzy"
        expected = sorted(set(re.findall(r"%\(\w+\)s", key)) - {"%(num)s"})
        for string in strings:
            found = sorted(set(re.findall(r"%\(\w+\)s", string)) - {"%(num)s"})
            assert found == expected, f"{language}: {key!r} has placeholders {found}, not {expected}"


@pytest.mark.parametrize("language", ["uk", "ru"])
def test_ukrainian_and_russian_have_three_plural_forms(app: Flask, language: str) -> None:
    forms = set()
    with app.app_context(), app.test_request_context(headers={"Accept-Language": language}):
        for count in (1, 3, 5, 11, 21, 22, 25):
            forms.add(ngettext("%(num)s flow", "%(num)s flows", count).split()[1])
    assert len(forms) == 3, forms


def test_english_is_the_default_without_a_preference(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in with Google" in page


@pytest.mark.parametrize(
    ("header", "lang", "text"),
    [("uk-UA,uk;q=0.9,en;q=0.5", "uk", "Увійти через Google"), ("ru,en;q=0.8", "ru", "Войти через Google")],
)
def test_accept_language_chooses_the_language(client: FlaskClient, header: str, lang: str, text: str) -> None:
    page = client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert text in page


def _csrf(client: FlaskClient, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_an_anonymous_choice_outranks_accept_language(client: FlaskClient) -> None:
    response = client.post("/language", data={"language": "ru", "next": "/", "csrf_token": _csrf(client)})
    assert response.status_code == 303
    page = client.get("/", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert '<html lang="ru">' in page


def test_a_signed_in_choice_is_saved_on_the_user(
    factory: object, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    membership = factory.member(factory.account("Acme"), Role.MEMBER)  # type: ignore[attr-defined]
    client = signed_in(membership)
    token = _csrf(client, "/dashboard")
    client.post("/language", data={"language": "uk", "next": "/dashboard", "csrf_token": token})
    assert db.session.get(User, membership.user_id).language == "uk"  # type: ignore[union-attr]
    page = client.get("/dashboard", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="uk">' in page
    assert "Головна" in page


def test_settings_save_a_time_zone_and_refuse_an_unknown_one(
    factory: object, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    membership = factory.member(factory.account("Acme"), Role.REVIEWER)  # type: ignore[attr-defined]
    client = signed_in(membership)
    token = _csrf(client, "/settings")
    client.post("/settings", data={"language": "", "time_zone": "Mars/Olympus", "csrf_token": token})
    assert db.session.get(User, membership.user_id).time_zone is None  # type: ignore[union-attr]
    client.post("/settings", data={"language": "ru", "time_zone": "Europe/Kyiv", "csrf_token": token})
    db.session.expire_all()
    user = db.session.get(User, membership.user_id)
    assert user is not None
    assert (user.language, user.time_zone) == ("ru", "Europe/Kyiv")


def test_times_show_in_the_browser_zone_until_the_user_picks_one(app: Flask) -> None:
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    render = app.jinja_env.filters["datetime"]
    # Each request has its own application context in production, and Flask-Babel caches per context.
    with app.app_context(), app.test_request_context(headers={"Cookie": "tz=Europe/Kyiv"}):
        assert "3:00" in render(moment, "short")  # Kyiv is UTC+3 in summer
    with app.app_context(), app.test_request_context(headers={"Cookie": "tz=Not/AZone"}):
        assert "12:00" in render(moment, "short")
    with (
        app.app_context(),
        app.test_request_context(headers={"Cookie": "tz=Europe/Kyiv", "Accept-Language": "uk"}),
    ):
        assert render(moment, "short") == "01.07.26, 15:00"


def test_the_zone_app_js_writes_percent_encoded_is_read(app: Flask) -> None:
    """app.js stores the zone with encodeURIComponent, so a browser sends "Europe%2FKyiv"."""
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with (
        app.app_context(),
        app.test_request_context(headers={"Cookie": "tz=Europe%2FKyiv", "Accept-Language": "uk"}),
    ):
        assert app.jinja_env.filters["datetime"](moment, "short") == "01.07.26, 15:00"


def test_catalogues_compile_into_the_instance_folder(tmp_path: Path) -> None:
    i18n.compile_catalogues(ROOT / "app" / "translations", tmp_path)
    assert {p.parts[-3] for p in tmp_path.glob("*/LC_MESSAGES/messages.mo")} == set(LANGUAGES)


def test_the_disclosure_is_shown_and_accepted_in_the_reader_language(
    factory: object, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    from app.privacy import disclosure
    from app.privacy.models import DisclosureAcceptance

    assert disclosure.languages_of("v1") == ["en", "ru", "uk"]
    assert disclosure.languages_of(disclosure.current().version) == ["en", "ru", "uk"]  # every version
    assert disclosure.load("v1", "de").language == "en"  # no German text: the English one
    membership = factory.member(factory.account("Acme"), Role.MEMBER)  # type: ignore[attr-defined]
    client = signed_in(membership)
    page = client.get("/google/disclosure", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert 'lang="uk"' in page
    assert "Перш ніж підключати Google Контакти" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    policy = re.search(r'name="policy_version" value="([^"]+)"', page)
    assert token is not None
    assert policy is not None
    client.post(
        "/google/connect",
        data={
            "csrf_token": token.group(1),
            "disclosure_version": disclosure.current().version,
            "disclosure_language": "uk",
            "policy_version": policy.group(1),
        },
    )
    accepted = db.session.query(DisclosureAcceptance).filter_by(user_id=membership.user_id).one()
    assert (accepted.version, accepted.language) == (disclosure.current().version, "uk")


def test_the_evidence_pack_carries_every_translation_of_the_disclosure(app: Flask) -> None:
    from app.ledger.pack import evidence_documents

    files = evidence_documents(app.config["GROUPSYNC"]).files
    assert {"disclosure-v1.md", "disclosure-v1.uk.md", "disclosure-v1.ru.md"} <= set(files)
    assert {"privacy-policy-v2.uk.md", "privacy-policy-v3.ru.md"} <= set(files)
    assert "{{" not in files["privacy-policy-v3.uk.md"].decode("utf-8")  # filled in, as users read it


@pytest.mark.parametrize(("language", "subject"), [(None, "GroupSync will add"), ("uk", "GroupSync додасть")])
def test_the_domain_notice_is_mailed_in_the_member_language(
    app: Flask, factory: object, language: str | None, subject: str
) -> None:
    from app.config import current_settings
    from app.workspace.members import notice_mail

    account = factory.account("Acme")  # type: ignore[attr-defined]
    admin = factory.member(account, Role.ADMIN)  # type: ignore[attr-defined]
    member = factory.member(account, Role.MEMBER)  # type: ignore[attr-defined]
    member.user.language = language
    with app.test_request_context(headers={"Accept-Language": "ru"}):  # the admin reads Russian
        mail = notice_mail(current_settings(), member, admin, "Acme")
    assert mail.subject.startswith(subject)
    assert "Acme" in mail.body
    assert "/workspace/my" in mail.body


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("uk", ["1 контакт", "3 контакти", "5 контактів", "21 контакт"]),
        ("ru", ["1 контакт", "3 контакта", "5 контактов", "21 контакт"]),
        ("en", ["1 contact", "3 contacts", "5 contacts", "21 contacts"]),
    ],
)
def test_a_count_renders_in_the_plural_form_of_the_reader_language(
    app: Flask, language: str, forms: list[str]
) -> None:
    for part in ("app", "emulator"):
        catalogue = _catalogue(CATALOGUES[part][2], language)
        assert catalogue.num_plurals == (2 if language == "en" else 3), (part, catalogue.plural_forms)
    template = app.jinja_env.from_string('{{ ngettext("%(num)s contact", "%(num)s contacts", count) }}')
    with app.app_context(), app.test_request_context(headers={"Accept-Language": language}):
        assert [template.render(count=count) for count in (1, 3, 5, 21)] == forms
