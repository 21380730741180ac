"""Emulator rules, clock and settings: deterministic outcomes and whole local days."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.emulator.clock import EmulatorClock
from connectors.paytrace.emulator.rules import (
    ERR_AMOUNT,
    ERR_CARD_NUMBER,
    ERR_EXPIRATION_MONTH,
    ERR_EXPIRATION_YEAR,
    RequestError,
    decide,
    luhn_ok,
    parse_card,
    parse_cents,
)
from connectors.paytrace.settings import PayTraceSettings

TODAY = date(2025, 6, 15)


def _card(number: str = "4111111111111111", month: int = 12, year: int = 2030) -> dict:
    return {"number": number, "expiration_month": month, "expiration_year": year}


def test_card_keeps_only_masked_data() -> None:
    card = parse_card(_card(), TODAY)
    assert card.masked_number == "xxxxxxxxxxxx1111" and card.export_mask == "************1111"
    assert card.card_type == "VISA" and card.expiration_year == 2030
    assert "4111111111111111" not in repr(card)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (_card(number="4111111111111112"), ERR_CARD_NUMBER),
        (_card(number="4111"), ERR_CARD_NUMBER),
        (_card(month=13), ERR_EXPIRATION_MONTH),
        (_card(year=2024), ERR_EXPIRATION_YEAR),
        (_card(month=5, year=2025), ERR_EXPIRATION_YEAR),
        ("not a card", ERR_CARD_NUMBER),
    ],
)
def test_invalid_cards_give_paytrace_error_keys(raw: object, key: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_card(raw, TODAY)
    assert caught.value.key == key


def test_two_digit_year_is_this_century() -> None:
    assert parse_card(_card(year=30), TODAY).expiration_year == 2030


def test_outcomes_are_deterministic() -> None:
    visa = parse_card(_card(), TODAY)
    decliner = parse_card(_card(number="4000000000000002"), TODAY)
    assert decide(7, 1000, visa, "123", "85284").response_code == 101
    assert decide(7, 1000, decliner, None, None).response_code == 102
    assert decide(7, 1002, visa, None, None).response_code == 102
    assert decide(7, 1003, visa, None, "85284").avs_response == "No Match"
    assert decide(7, 1000, visa, None, "99999").response_code == 103
    csc_fail = decide(7, 1000, visa, "000", None)
    assert (csc_fail.response_code, csc_fail.csc_response) == (103, "No Match")
    assert decide(7, 1000, visa, None, None).approval_code == "TAS007"


@given(st.from_regex(r"[0-9]{15}", fullmatch=True))
def test_luhn_check_digit_always_completes_a_valid_number(stem: str) -> None:
    check = next(d for d in "0123456789" if luhn_ok(stem + d))
    assert luhn_ok(stem + check)
    assert not luhn_ok(stem + str((int(check) + 1) % 10))


@given(cents=st.integers(min_value=1, max_value=10**12))
def test_amounts_parse_to_exact_cents(cents: int) -> None:
    assert parse_cents(f"{cents // 100}.{cents % 100:02d}") == cents


@given(cents=st.integers(min_value=1, max_value=10**9))
def test_json_number_amounts_parse_to_exact_cents(cents: int) -> None:
    assert parse_cents(cents / 100) == cents


@pytest.mark.parametrize("bad", ["0", "-5", "1.234", "abc", "NaN", None])
def test_bad_amounts_are_refused(bad: object) -> None:
    with pytest.raises(RequestError) as caught:
        parse_cents(bad)
    assert caught.value.key == ERR_AMOUNT


def test_day_span_covers_whole_local_days_across_dst() -> None:
    clock = EmulatorClock("America/Los_Angeles")
    start, end = clock.day_span(date(2024, 3, 10), date(2024, 3, 10))
    assert end - start == 23 * 3600  # spring-forward day is 23 hours long
    zone = ZoneInfo("America/Los_Angeles")
    assert start == datetime(2024, 3, 10, tzinfo=zone).timestamp()


def test_clock_offset_shifts_now() -> None:
    clock = EmulatorClock("UTC")
    before = clock.now()
    clock.offset_seconds = 86400
    assert clock.now() - before >= 86400


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_USERNAME", "merchant")
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_PASSWORD", "s3cret")
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_TIMEZONE", "America/Chicago")
    settings = PayTraceSettings()
    assert settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    client = PayTraceClient.from_settings(settings)
    assert client.zone == ZoneInfo("America/Chicago")
    assert "s3cret" not in repr(client)


def test_settings_reject_unknown_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError):
        PayTraceSettings()


def test_client_needs_a_username() -> None:
    with pytest.raises(ValueError):
        PayTraceClient.from_settings(PayTraceSettings(username=""))
