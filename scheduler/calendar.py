"""The A-share market calendar: trading days and holidays, one data file per year (scheduler/data/calendar_<year>.yaml).

A year without a file is an error (`UnknownYearError`), never a guess: reminders that depend on trading days must not
be sent on a made-up calendar. Weekends are always closed; weekend make-up working days (调休) are not trading days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).parent / "data"


class UnknownYearError(LookupError):
    """No calendar file for this year: the exchanges' holiday schedule has not been loaded."""


@dataclass(frozen=True)
class Closure:
    name: str
    start: date
    end: date  # inclusive


class MarketCalendar:
    """Trading days of the years it was loaded with."""

    def __init__(self, years: dict[int, list[Closure]]) -> None:
        self._years = dict(years)
        self._holidays: set[date] = set()
        for closures in self._years.values():
            for closure in closures:
                day = closure.start
                while day <= closure.end:
                    self._holidays.add(day)
                    day += timedelta(days=1)

    @classmethod
    def load(cls, data_dir: Path | None = None, extra_files: tuple[Path, ...] = ()) -> "MarketCalendar":
        """Every calendar_<year>.yaml in the data dir, plus extra files (later files replace a year)."""
        files = sorted((data_dir or DATA_DIR).glob("calendar_*.yaml")) + list(extra_files)
        years: dict[int, list[Closure]] = {}
        for path in files:
            year, closures = parse_calendar_file(path)
            years[year] = closures
        return cls(years)

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted(self._years))

    def _check(self, day: date) -> None:
        if day.year not in self._years:
            known = ", ".join(str(y) for y in self.years) or "none"
            raise UnknownYearError(
                f"no market calendar for {day.year} (loaded: {known}); add scheduler/data/calendar_{day.year}.yaml "
                f"from the exchanges' holiday notice"
            )

    def is_trading_day(self, day: date) -> bool:
        self._check(day)
        return day.weekday() < 5 and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        self._check(day)
        for closure in self._years[day.year]:
            if closure.start <= day <= closure.end:
                return closure.name
        return None

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before `day`."""
        day -= timedelta(days=1)
        while not self.is_trading_day(day):
            day -= timedelta(days=1)
        return day

    def trading_days(self, start: date, end: date) -> list[date]:
        days, day = [], start
        while day <= end:
            if self.is_trading_day(day):
                days.append(day)
            day += timedelta(days=1)
        return days

    def closure_after(self, day: date) -> int:
        """How many consecutive calendar days the market is closed right after `day` (0 if the next day trades)."""
        count, probe = 0, day + timedelta(days=1)
        while not self.is_trading_day(probe):
            count += 1
            probe += timedelta(days=1)
        return count

    def long_closures(self, year: int, min_days: int = 3) -> list[tuple[date, int]]:
        """(last trading day before, length) of every closure of at least `min_days` days that starts in `year`."""
        self._check(date(year, 1, 1))
        found = []
        day = date(year, 1, 1) - timedelta(days=1)
        end = date(year, 12, 31)
        while day < end:
            nxt = day + timedelta(days=1)
            if self._known(day) and self.is_trading_day(day) and self._known(nxt):
                try:
                    length = self.closure_after(day)
                except UnknownYearError:
                    break
                if length >= min_days and nxt.year == year:
                    found.append((day, length))
            day = nxt
        return found

    def _known(self, day: date) -> bool:
        return day.year in self._years


def parse_calendar_file(path: Path) -> tuple[int, list[Closure]]:
    """Read one year's file; raise ValueError with the file name on anything malformed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        year = int(data["year"])
        closures = [
            Closure(name=str(item["name"]), start=_as_date(item["start"]), end=_as_date(item["end"]))
            for item in data.get("closures") or []
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name}: malformed market calendar ({exc})") from None
    for closure in closures:
        if closure.end < closure.start or closure.start.year != year:
            raise ValueError(f"{path.name}: closure {closure.name} is outside {year} or ends before it starts")
    return year, closures


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@lru_cache
def default_calendar() -> MarketCalendar:
    """The calendar shipped with the project (every year file in scheduler/data)."""
    return MarketCalendar.load()


def calendar_for(settings: object | None) -> MarketCalendar:
    """The shipped years plus year files loaded into <SCRM_DATA_DIR>/calendar (`scrm reminders calendar load`)."""
    data_dir = getattr(settings, "data_dir", None)
    folder = Path(data_dir) / "calendar" if data_dir else None
    if folder is None or not folder.is_dir() or not any(folder.glob("calendar_*.yaml")):
        return default_calendar()
    return _with_extra(str(folder), max(p.stat().st_mtime_ns for p in folder.glob("calendar_*.yaml")))


@lru_cache(maxsize=8)
def _with_extra(folder: str, _stamp: int) -> MarketCalendar:
    return MarketCalendar.load(extra_files=tuple(sorted(Path(folder).glob("calendar_*.yaml"))))


def install_year_file(path: Path, settings: object) -> tuple[int, Path]:
    """Validate a year file and copy it to <SCRM_DATA_DIR>/calendar. Returns (year, destination)."""
    year, _ = parse_calendar_file(path)
    folder = Path(getattr(settings, "data_dir")) / "calendar"
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / f"calendar_{year}.yaml"
    destination.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return year, destination
