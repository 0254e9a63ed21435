"""IP-address and time-of-day rules of an account: parsing what admins type, and deciding a request.

Pure functions: no database, no Flask. Each rule applies separately to the web pages (signed-in
people) and to the CRM API (API keys). An empty rule allows everything.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_NETWORKS = 50


class Channel(StrEnum):
    WEB = "web"
    API = "api"


CHANNEL_NAMES = {Channel.WEB: _l("the web pages"), Channel.API: _l("the CRM API")}


class RuleError(ValueError):
    """What an admin typed is not a valid rule; the message names the input and the fault."""


def parse_networks(text: str, name: str) -> tuple[Network, ...]:
    """One IPv4 or IPv6 address or CIDR range per line (or separated by commas); empty means any."""
    networks: list[Network] = []
    for raw in re.split(r"[\s,]+", text.strip()):
        if not raw:
            continue
        try:
            networks.append(ipaddress.ip_network(raw, strict=False))
        except ValueError:
            raise RuleError(
                _(
                    "%(field)s: '%(value)s' is not an IPv4 or IPv6 address or range (CIDR).",
                    field=name,
                    value=raw[:60],
                )
            ) from None
    if len(networks) > MAX_NETWORKS:
        raise RuleError(_("%(field)s: at most %(most)s ranges.", field=name, most=MAX_NETWORKS))
    return tuple(networks)


def format_networks(networks: tuple[Network, ...]) -> str:
    return "\n".join(str(n) for n in networks)


@dataclass(frozen=True)
class Hours:
    start: time
    end: time
    """Exclusive; an end before the start runs past midnight (22:00-06:00)."""

    def __str__(self) -> str:
        end = "24:00" if self.end == time.max else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"

    def admits(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end or (self.end == time.max and moment >= self.start)
        return moment >= self.start or moment < self.end


def parse_hours(text: str, name: str) -> Hours | None:
    value = text.strip().replace(" ", "").replace("\u2013", "-")
    if not value:
        return None
    found = _HOURS.match(value)
    if found is None:
        raise RuleError(
            _("%(field)s: write the allowed hours as HH:MM-HH:MM, for example 08:00-19:00.", field=name)
        )
    start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
    if end_h == 24 and end_m:
        raise RuleError(_("%(field)s: the latest end is 24:00.", field=name))
    start = time(start_h, start_m)
    end = time.max if end_h == 24 else time(end_h, end_m)
    if start == end:
        raise RuleError(
            _("%(field)s: the start and the end are the same; leave it empty to allow all day.", field=name)
        )
    return Hours(start, end)


def parse_zone(text: str) -> str:
    name = text.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(
            _("Time zone: '%(value)s' is not a known time zone (for example Europe/Kyiv).", value=name[:60])
        ) from None
    return name


@dataclass(frozen=True)
class Rules:
    networks: tuple[Network, ...] = ()
    hours: Hours | None = None


@dataclass(frozen=True)
class Refusal:
    code: str
    """``address_not_allowed`` or ``outside_allowed_hours``."""
    message: str


def decide(rules: Rules, channel: Channel, address: str, moment: datetime, zone: str) -> Refusal | None:
    """Why a request from ``address`` at ``moment`` is refused on ``channel``, or ``None``."""
    where = CHANNEL_NAMES[channel]
    if rules.networks:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None and isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is None or not any(ip.version == n.version and ip in n for n in rules.networks):
            return Refusal(
                "address_not_allowed",
                _(
                    "This account allows %(where)s only from certain network addresses, "
                    "and your address %(address)s is not one of them.",
                    where=str(where),
                    address=address or _("unknown"),
                ),
            )
    if rules.hours is not None:
        local = moment.astimezone(ZoneInfo(zone))
        if not rules.hours.admits(local.time()):
            return Refusal(
                "outside_allowed_hours",
                _(
                    "This account allows %(where)s only from %(hours)s (%(zone)s time); "
                    "it is now %(now)s there.",
                    where=str(where),
                    hours=str(rules.hours),
                    zone=zone,
                    now=local.strftime("%H:%M"),
                ),
            )
    return None
