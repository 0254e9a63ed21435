"""Person fields between the wire and the store: what a request may write (read-only parts dropped,
dates and resource names checked) and how a stored value is answered (field metadata, display names,
canonical phone numbers, formatted addresses), plus the sort orders of a connections listing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from groupsync_emulator.discovery import discovery_schemas, invalid
from groupsync_emulator.people_records import ADDABLE_SYSTEM_GROUPS, Contact, Group

_FORMATTED_TYPES = {
    "home": "Home",
    "work": "Work",
    "other": "Other",
    "mobile": "Mobile",
    "homeFax": "Home Fax",
    "workFax": "Work Fax",
    "otherFax": "Other Fax",
    "pager": "Pager",
    "workMobile": "Work Mobile",
    "workPager": "Work Pager",
    "main": "Main",
    "googleVoice": "Google Voice",
    "school": "School",
    "blog": "Blog",
    "profile": "Profile",
    "homePage": "Home Page",
    "ftp": "FTP",
    "reservations": "Reservations",
    "appInstallPage": "App Install Page",
    "account": "Account",
    "customer": "Customer",
    "loginId": "Login ID",
    "network": "Network",
    "organization": "Organization",
}
_FORMATTED_PROTOCOLS = {
    "aim": "AIM",
    "msn": "MSN",
    "yahoo": "Yahoo",
    "skype": "Skype",
    "qq": "QQ",
    "googleTalk": "Google Talk",
    "icq": "ICQ",
    "jabber": "Jabber",
    "netMeeting": "NetMeeting",
}


def _addable(group: Group) -> bool:
    return not group.system or group.gid in ADDABLE_SYSTEM_GROUPS


def _check_person_name(resource_name: str) -> None:
    rest = resource_name.removeprefix("people/")
    if rest == resource_name or not rest or "/" in rest:
        raise invalid(f'Resource name "{resource_name}" is not a valid person resource name.')
    if not (rest.startswith("c") and rest[1:].isdigit()):
        raise invalid(
            f'Resource name "{resource_name}" is not a valid contact resource name '
            "(expected people/c<digits>)."
        )


def _client_data(raw: Any) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in item.items() if k in ("key", "value")} for item in raw or []]


def _strip_read_only(schema_name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    properties = discovery_schemas()[schema_name].get("properties", {})
    kept: dict[str, Any] = {}
    for key, item in value.items():
        spec = properties[key]
        if spec.get("readOnly") or key == "metadata":
            continue
        nested = "$ref" in spec and isinstance(item, Mapping)
        kept[key] = _strip_read_only(spec["$ref"], item) if nested else item
    return kept


def _check_date(date: Any, where: str) -> None:
    if date is None:
        return
    year, month, day = (int(date.get(part, 0)) for part in ("year", "month", "day"))
    if not (0 <= year <= 9999 and 0 <= month <= 12 and 0 <= day <= 31) or (day and not month):
        raise invalid(f"{where} is not a valid date (year 0-9999 or 0, month 1-12, day 1-31).")
    if year and month and day:
        try:
            datetime(year, month, day, tzinfo=UTC)
        except ValueError as exc:
            raise invalid(f"{where} is not a valid date: {exc}.") from None


def _decorate(name: str, value: Mapping[str, Any], index: int, source: Mapping[str, str]) -> dict[str, Any]:
    """A stored value as Google returns it: field metadata plus the computed output-only fields."""
    out: dict[str, Any] = dict(value)
    metadata: dict[str, Any] = {"source": dict(source)}
    if index == 0:
        metadata.update(primary=True, sourcePrimary=True)
    out["metadata"] = metadata
    kind = value.get("type")
    if isinstance(kind, str) and name in {
        "emailAddresses",
        "phoneNumbers",
        "addresses",
        "imClients",
        "urls",
        "organizations",
        "externalIds",
    }:
        out["formattedType"] = _FORMATTED_TYPES.get(kind, kind)
    if name == "names":
        display = " ".join(
            str(value[part])
            for part in ("honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix")
            if value.get(part)
        ) or str(value.get("unstructuredName", ""))
        if display:
            out["displayName"] = display
            given = " ".join(str(value[p]) for p in ("givenName", "middleName") if value.get(p))
            family = str(value.get("familyName", ""))
            out["displayNameLastFirst"] = f"{family}, {given}" if family and given else display
    elif name == "phoneNumbers":
        canonical = _canonical_phone(str(value.get("value", "")))
        if canonical:
            out["canonicalForm"] = canonical
    elif name == "addresses" and not value.get("formattedValue"):
        formatted = _format_address(value)
        if formatted:
            out["formattedValue"] = formatted
    elif name == "imClients" and value.get("protocol"):
        protocol = str(value["protocol"])
        out["formattedProtocol"] = _FORMATTED_PROTOCOLS.get(protocol, protocol)
    return out


def _canonical_phone(number: str) -> str | None:
    """E.164 only for numbers written with a country code, since the account's region is unknown."""
    if not number.strip().startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    formatted: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def _format_address(address: Mapping[str, Any]) -> str:
    locality = " ".join(str(address[p]) for p in ("city", "region", "postalCode") if address.get(p))
    lines = (
        [str(address[p]) for p in ("poBox", "streetAddress", "extendedAddress") if address.get(p)]
        + ([locality] if locality else [])
        + ([str(address["country"])] if address.get("country") else [])
    )
    return "\n".join(lines)


def _sort_key(order: str) -> tuple[Callable[[Contact], tuple[Any, ...]], bool]:
    def by_name(part: str) -> Callable[[Contact], tuple[Any, ...]]:
        def key(contact: Contact) -> tuple[Any, ...]:
            names = contact.fields.get("names") or [{}]
            return (str(names[0].get(part, "")).casefold(), contact.number)

        return key

    if order == "FIRST_NAME_ASCENDING":
        return by_name("givenName"), False
    if order == "LAST_NAME_ASCENDING":
        return by_name("familyName"), False
    return (lambda c: (c.changed_seq, c.number)), order == "LAST_MODIFIED_DESCENDING"
