"""A realistic, deterministic CRM list for the demo account: Ukrainian and English contacts.

The same seed always yields the same contacts, so the demo and its screenshots are
reproducible. Every field kind GroupSync carries to Google appears in the list, and every
contact passes the same validation as API input.
"""

from __future__ import annotations

import random

from sqlalchemy import select

from app.accounts.models import Account
from app.crm import services
from app.crm.models import ContactList, CrmContact
from app.crm.validation import validate_contact
from app.db import DbSession, unit_of_work

DEMO_LIST_ID = "demo-customers"
DEMO_LIST_NAME = "Customers"
DEMO_SIZE = 300
_SEED = 20_240_501

_UK_GIVEN = (
    ("Олена", "f"), ("Андрій", "m"), ("Ірина", "f"), ("Тарас", "m"), ("Оксана", "f"), ("Богдан", "m"),  # noqa: RUF001  (Ukrainian names, not look-alikes)
    ("Наталія", "f"), ("Дмитро", "m"), ("Юлія", "f"), ("Максим", "m"), ("Софія", "f"), ("Олександр", "m"),
    ("Марія", "f"), ("Володимир", "m"), ("Катерина", "f"), ("Ярослав", "m"), ("Галина", "f"), ("Василь", "m"),
)  # fmt: skip
_UK_FAMILY = (
    "Шевченко", "Коваленко", "Бондар", "Ткаченко", "Мельник", "Кравчук", "Олійник", "Лисенко",
    "Гнатюк", "Руденко", "Савчук", "Поліщук",
)  # fmt: skip
_UK_MIDDLE = {"m": ("Іванович", "Петрович", "Степанович"), "f": ("Іванівна", "Петрівна", "Степанівна")}
_UK_LATIN = {
    "Олена": "olena", "Андрій": "andrii", "Ірина": "iryna", "Тарас": "taras", "Оксана": "oksana",  # noqa: RUF001  (Ukrainian names, not look-alikes)
    "Богдан": "bohdan", "Наталія": "nataliia", "Дмитро": "dmytro", "Юлія": "yuliia", "Максим": "maksym",
    "Софія": "sofiia", "Олександр": "oleksandr", "Марія": "mariia", "Володимир": "volodymyr",
    "Катерина": "kateryna", "Ярослав": "yaroslav", "Галина": "halyna", "Василь": "vasyl",
    "Шевченко": "shevchenko", "Коваленко": "kovalenko", "Бондар": "bondar", "Ткаченко": "tkachenko",
    "Мельник": "melnyk", "Кравчук": "kravchuk", "Олійник": "oliinyk", "Лисенко": "lysenko",
    "Гнатюк": "hnatiuk", "Руденко": "rudenko", "Савчук": "savchuk", "Поліщук": "polishchuk",
}  # fmt: skip
_EN_GIVEN = (
    "Emma", "Oliver", "Charlotte", "James", "Amelia", "William", "Sophie", "Henry", "Grace", "Thomas",
    "Lucy", "George", "Hannah", "Daniel", "Chloe", "Samuel",
)  # fmt: skip
_EN_FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Taylor", "Davies", "Wilson", "Evans", "Thomas", "Roberts",
    "Walker", "Wright", "Green", "Hall", "O'Connor", "MacDonald",
)  # fmt: skip
_COMPANIES = (
    "Нова Пошта", "Укрзалізниця", "Київстар", "ПриватБанк", "Acme Ltd", "Globex Corporation",
    "Initech", "Northwind Traders", "Blue Harbor Logistics", "Сільпо", "Rozetka", "Contoso",
)  # fmt: skip
_TITLES = (
    "Менеджер з продажу", "Бухгалтер", "Директор", "Інженер", "Account Manager", "Sales Director",
    "Software Engineer", "Office Manager", "Procurement Lead", "CEO", "Маркетолог", "Юрист",
)  # fmt: skip
_UK_CITIES = (
    ("Київ", "Київська", "01001"), ("Львів", "Львівська", "79000"), ("Одеса", "Одеська", "65000"),
    ("Харків", "Харківська", "61000"), ("Дніпро", "Дніпропетровська", "49000"),
)  # fmt: skip
_UK_STREETS = ("вул. Хрещатик", "просп. Свободи", "вул. Сумська", "вул. Дерибасівська", "вул. Шевченка")
_EN_PLACES = (
    ("London", "", "SW1A 1AA", "United Kingdom", "GB"),
    ("Manchester", "", "M1 1AE", "United Kingdom", "GB"),
    ("Dublin", "", "D02 X285", "Ireland", "IE"),
    ("Toronto", "ON", "M5H 2N2", "Canada", "CA"),
)
_EN_STREETS = ("High Street", "Baker Street", "King's Road", "Queen Street", "Station Road")
_NOTES = (
    "Prefers calls in the morning.",
    "Met at the Kyiv trade fair 🇺🇦",
    "Клієнт з 2019 року. Цікавиться оптовими знижками.",
    "Renewal due in Q3; send the price list first.",
    "Говорить українською та англійською 👍",
    "VIP — personal manager assigned.",
)
_UK_MOBILE_CODES = (50, 63, 66, 67, 68, 73, 93, 95, 96, 97, 98, 99)
_PROTOCOLS = ("telegram", "whatsapp", "viber", "signal", "skype")


def _ukrainian(rng: random.Random) -> dict[str, object]:
    given, sex = rng.choice(_UK_GIVEN)
    family = rng.choice(_UK_FAMILY)
    city, region, postcode = rng.choice(_UK_CITIES)
    latin = f"{_UK_LATIN[given]}.{_UK_LATIN[family]}"
    return {
        "given_name": given,
        "middle_name": rng.choice(_UK_MIDDLE[sex]) if rng.random() < 0.6 else "",
        "family_name": family,
        "latin": latin,
        "mobile": f"0{rng.choice(_UK_MOBILE_CODES)}{rng.randrange(10**7):07d}",
        "address": {
            "type": rng.choice(("work", "home")),
            "street": f"{rng.choice(_UK_STREETS)}, {rng.randint(1, 120)}",
            "extended": f"офіс {rng.randint(1, 400)}" if rng.random() < 0.4 else "",
            "city": city,
            "region": f"{region} область",
            "postal_code": postcode,
            "country": "Україна",
            "country_code": "UA",
        },
    }


def _english(rng: random.Random) -> dict[str, object]:
    given, family = rng.choice(_EN_GIVEN), rng.choice(_EN_FAMILY)
    city, region, postcode, country, code = rng.choice(_EN_PLACES)
    latin = f"{given}.{family}".lower().replace("'", "")
    return {
        "given_name": given,
        "middle_name": rng.choice(("", "", "Anne", "J.", "Marie")),
        "family_name": family,
        "latin": latin,
        "mobile": f"+44 7{rng.randrange(10**9):09d}",
        "address": {
            "type": rng.choice(("work", "home")),
            "street": f"{rng.randint(1, 250)} {rng.choice(_EN_STREETS)}",
            "city": city,
            "region": region,
            "postal_code": postcode,
            "country": country,
            "country_code": code,
        },
    }


def demo_payload(index: int, rng: random.Random) -> dict[str, object]:
    """One contact as the API would receive it (every optional field appears in some contacts)."""
    person = _ukrainian(rng) if index % 3 else _english(rng)
    latin = str(person["latin"])
    company = rng.choice(_COMPANIES)
    domain = "".join(c for c in company.lower() if c.isascii() and c.isalnum()) or "firma"
    emails = [{"value": f"{latin}@{domain}.example.com", "type": "work"}]
    if rng.random() < 0.4:
        emails.append({"value": f"{latin}@example.org", "type": "home"})
    phones = [{"value": str(person["mobile"]), "type": "mobile"}]
    if rng.random() < 0.3:
        phones.append({"value": f"+380 44 {rng.randrange(10**7):07d}", "type": "work"})
    birthday = None
    if rng.random() < 0.6:
        year = rng.choice((None, *range(1955, 2004)))
        birthday = {"year": year, "month": rng.randint(1, 12), "day": rng.randint(1, 28)}
    messengers = []
    if rng.random() < 0.7:
        for protocol in rng.sample(_PROTOCOLS, rng.randint(1, 3)):
            by_number = protocol in {"viber", "whatsapp", "signal"}
            handle = f"+380{rng.randrange(10**9):09d}" if by_number else latin.replace(".", "_")
            messengers.append({"protocol": protocol, "username": handle})
    urls = []
    if rng.random() < 0.5:
        urls.append({"value": f"https://www.linkedin.com/in/{latin.replace('.', '-')}", "type": "profile"})
        if rng.random() < 0.3:
            urls.append({"value": f"https://{domain}.example.com/", "type": "homePage"})
    return {
        "id": f"demo-{index:04d}",
        "prefix": rng.choice(("", "", "", "Dr.", "Prof.")),
        "given_name": person["given_name"],
        "middle_name": person["middle_name"],
        "family_name": person["family_name"],
        "suffix": rng.choice(("", "", "", "", "Jr.", "PhD")),
        "job_title": rng.choice(_TITLES),
        "company": company,
        "emails": emails,
        "phones": phones,
        "birthday": birthday,
        "notes": rng.choice(_NOTES) if rng.random() < 0.5 else "",
        "addresses": [person["address"]] if rng.random() < 0.7 else [],
        "messengers": messengers,
        "urls": urls,
    }


def seed_demo_account(session: DbSession, account: Account) -> ContactList:
    """Create the demo list of :data:`DEMO_SIZE` contacts; running it again changes nothing.

    Only what was never there is created: a contact or the list an admin deleted (kept as a row
    marked deleted) stays deleted, an edited contact keeps its edits, and a contact taken off
    the list stays off, so restarting the demo never brings back what someone removed. The
    account's default phone region becomes Ukraine when the account has none, so the demo's
    local numbers are normalised like a Ukrainian CRM's would be. No member gets access: an
    admin grants it.
    """
    region = services.default_region(session, account.id)
    if region is None:
        region = services.set_default_region(session, account.id, "UA")
    rng = random.Random(_SEED)
    contacts = [
        validate_contact(demo_payload(i, rng), default_region=region) for i in range(1, DEMO_SIZE + 1)
    ]
    known = set(
        session.scalars(
            select(CrmContact.crm_id).where(
                CrmContact.account_id == account.id, CrmContact.crm_id.in_([c.crm_id for c in contacts])
            )
        )
    )
    new = [c for c in contacts if c.crm_id not in known]
    with unit_of_work(session):
        services.store_contact_data(session, account.id, new)
    contact_list = session.scalar(
        select(ContactList).where(ContactList.account_id == account.id, ContactList.crm_id == DEMO_LIST_ID)
    )
    if contact_list is None:
        contact_list, _ = services.put_list(session, account.id, DEMO_LIST_ID, {"name": DEMO_LIST_NAME})
    if new and contact_list.deleted_at is None:
        rows = session.scalars(
            select(CrmContact).where(
                CrmContact.account_id == account.id, CrmContact.crm_id.in_([c.crm_id for c in new])
            )
        )
        with unit_of_work(session):
            services.add_contacts_to_list(session, contact_list, rows)
    return contact_list
