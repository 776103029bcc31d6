"""The market calendar: 2026 closures as the exchanges published them; unknown years are an error, not a guess."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.calendar import MarketCalendar, UnknownYearError, default_calendar, parse_calendar_file
from scheduler.reminders import reverse_repo_trigger

CAL = default_calendar()


@pytest.mark.parametrize(("day", "trading"), [
    (date(2026, 1, 2), False),  # 元旦
    (date(2026, 1, 5), True),
    (date(2026, 2, 13), True),
    (date(2026, 2, 16), False),  # 春节
    (date(2026, 2, 23), False),
    (date(2026, 2, 24), True),
    (date(2026, 2, 28), False),  # a make-up working Saturday is still no trading day
    (date(2026, 4, 6), False),  # 清明
    (date(2026, 5, 5), False),  # 劳动节
    (date(2026, 5, 6), True),
    (date(2026, 6, 19), False),  # 端午
    (date(2026, 9, 25), False),  # 中秋
    (date(2026, 10, 7), False),  # 国庆
    (date(2026, 10, 8), True),
    (date(2026, 10, 10), False),  # Saturday
])
def test_trading_days_2026(day, trading):  # type: ignore[no-untyped-def]
    assert CAL.is_trading_day(day) is trading


def test_navigation():  # type: ignore[no-untyped-def]
    assert CAL.next_trading_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert CAL.previous_trading_day(date(2026, 2, 24)) == date(2026, 2, 13)
    assert len(CAL.trading_days(date(2026, 1, 1), date(2026, 1, 31))) == 20


def test_unknown_year_is_a_clear_error():  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownYearError, match="calendar_2027.yaml"):
        CAL.is_trading_day(date(2027, 3, 1))


def test_a_year_file_can_be_added(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "calendar_2030.yaml").write_text(
        "year: 2030\nclosures:\n  - {name: 元旦, start: 2030-01-01, end: 2030-01-01}\n", encoding="utf-8")
    cal = MarketCalendar.load(tmp_path)
    assert cal.years == (2030,) and not cal.is_trading_day(date(2030, 1, 1)) and cal.is_trading_day(date(2030, 1, 2))


def test_malformed_file_names_itself(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "calendar_2031.yaml"
    path.write_text("year: 2031\nclosures:\n  - {name: x, start: 2030-12-31, end: 2031-01-01}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="calendar_2031.yaml"):
        parse_calendar_file(path)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 9, 29), ("国庆节", date(2026, 10, 1), date(2026, 10, 8), 7)),  # Sep 30 is the last trading day
    (date(2026, 2, 12), ("春节", date(2026, 2, 14), date(2026, 2, 24), 10)),
    (date(2026, 4, 2), ("清明节", date(2026, 4, 4), date(2026, 4, 7), 3)),
    (date(2026, 9, 30), None),  # the last trading day itself is too late
    (date(2026, 9, 28), None),
    (date(2026, 12, 3), None),  # an ordinary weekend is two days
])
def test_reverse_repo_trigger(day, expected):  # type: ignore[no-untyped-def]
    assert reverse_repo_trigger(CAL, day) == expected
