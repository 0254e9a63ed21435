"""Address and hours rules as admins type them, and the decision on one request (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from app.security.access import Channel, RuleError, Rules, decide, parse_hours, parse_networks, parse_zone

NOON_UTC = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_networks_take_ipv4_and_ipv6_ranges_and_single_addresses() -> None:
    networks = parse_networks("192.0.2.0/24\n2001:db8::/32, 198.51.100.7", "web")
    assert [str(n) for n in networks] == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]
    assert parse_networks("  \n", "web") == ()


@pytest.mark.parametrize("text", ["192.0.2.0/33", "example.com", "10.0.0.1/8/1", "2001:db8::/129"])
def test_a_bad_range_is_named(text: str) -> None:
    with pytest.raises(RuleError, match=f"Web addresses: '{text}' is not an IPv4 or IPv6 address or range"):
        parse_networks(f"10.0.0.0/8\n{text}", "Web addresses")


@pytest.mark.parametrize("text", ["8-17", "25:00-26:00", "09:00-09:00", "09:00-24:30", "09:00 to 17:00"])
def test_bad_hours_are_named(text: str) -> None:
    with pytest.raises(RuleError, match="Web hours"):
        parse_hours(text, "Web hours")


def test_zone_names_must_be_known() -> None:
    assert parse_zone("") == "UTC"
    assert parse_zone("Europe/Kyiv") == "Europe/Kyiv"
    with pytest.raises(RuleError, match="'Mars/Olympus' is not a known time zone"):
        parse_zone("Mars/Olympus")


def test_addresses_inside_a_range_pass_others_are_refused_with_the_rule_named() -> None:
    rules = Rules(parse_networks("192.0.2.0/24\n2001:db8::/32", ""))
    assert decide(rules, Channel.WEB, "192.0.2.200", NOON_UTC, "UTC") is None
    assert decide(rules, Channel.WEB, "2001:db8::1", NOON_UTC, "UTC") is None
    assert decide(rules, Channel.WEB, "::ffff:192.0.2.9", NOON_UTC, "UTC") is None
    refusal = decide(rules, Channel.API, "203.0.113.5", NOON_UTC, "UTC")
    assert refusal is not None
    assert refusal.code == "address_not_allowed"
    assert "the CRM API" in refusal.message
    assert "203.0.113.5" in refusal.message
    assert decide(rules, Channel.WEB, "", NOON_UTC, "UTC") is not None


def test_hours_are_read_in_the_accounts_time_zone() -> None:
    office = Rules(hours=parse_hours("09:00-17:00", ""))
    assert decide(office, Channel.WEB, "192.0.2.1", NOON_UTC, "UTC") is None
    # 12:00 UTC is 21:00 in Tokyo.
    refusal = decide(office, Channel.WEB, "192.0.2.1", NOON_UTC, "Asia/Tokyo")
    assert refusal is not None
    assert refusal.code == "outside_allowed_hours"
    assert "09:00-17:00 (Asia/Tokyo time); it is now 21:00 there" in refusal.message


def test_night_hours_run_past_midnight_and_24_00_ends_the_day() -> None:
    night = parse_hours("22:00-06:00", "")
    assert night is not None
    assert night.admits(time(23, 30))
    assert night.admits(time(5, 59))
    assert not night.admits(time(12, 0))
    evening = parse_hours("18:00-24:00", "")
    assert evening is not None
    assert str(evening) == "18:00-24:00"
    assert evening.admits(time(23, 59, 59))
    assert not evening.admits(time(0, 0))
