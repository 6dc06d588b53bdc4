"""China's working-day calendar: statutory holidays and make-up working days (调休).

`chinese-calendar` covers 2004–2026. Later years come from a config table (the State
Council publishes each year's schedule late in the year before). A day in a year that neither
covers is a loud `CalendarError`, never a silent weekends-only count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from chinese_calendar import constants as _cc

LIBRARY_YEARS = range(2004, 2027)  # what chinese-calendar 1.11 knows


class CalendarError(Exception):
    """A deadline needs a year whose holiday schedule no source covers."""


@dataclass(slots=True)
class YearSchedule:
    """One year's schedule as published: its holidays and its make-up working days."""

    holidays: list[dt.date] = field(default_factory=list)
    workdays: list[dt.date] = field(default_factory=list)


def is_working_day(day: dt.date, holidays: Collection[dt.date] = (),
                   workdays: Collection[dt.date] = ()) -> bool:
    """Monday–Friday unless a holiday; a make-up working day (调休) counts whatever its weekday."""
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


@dataclass(slots=True)
class ChinaCalendar:
    """Working days from the library for its years, from `years` (config) for the rest."""

    years: dict[int, YearSchedule] = field(default_factory=dict)

    def covers(self, year: int) -> bool:
        return year in self.years or year in LIBRARY_YEARS

    def year_sets(self, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
        """One year's (holidays, make-up working days); CalendarError if no source has it."""
        if year in self.years:  # config wins: a correction of the library
            return frozenset(self.years[year].holidays), frozenset(self.years[year].workdays)
        if year in LIBRARY_YEARS:
            return (frozenset(d for d in _cc.holidays if d.year == year),
                    frozenset(d for d in _cc.workdays if d.year == year))
        raise CalendarError(
            f"no holiday schedule for {year}: chinese-calendar covers {LIBRARY_YEARS.start}"
            f"–{LIBRARY_YEARS.stop - 1}; add [desk.calendar.\"{year}\"] holidays and "
            "workdays from the State Council's notice")

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (n = 0: `start`), on China's calendar. Only the
        years the count walks through must be covered."""
        if n < 0:
            raise ValueError(f"working days must not be negative, got {n}")
        day, left = start, n
        while left:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def is_working_day(self, day: dt.date) -> bool:
        holidays, workdays = self.year_sets(day.year)
        return is_working_day(day, holidays, workdays)


def calendar_from_table(table: Mapping[str, Mapping[str, Sequence[str]]]) -> ChinaCalendar:
    """A calendar from the config table: {"2027": {"holidays": [...], "workdays": [...]}}."""
    years: dict[int, YearSchedule] = {}
    for year, sched in table.items():
        try:
            y = int(year)
            days = {k: [dt.date.fromisoformat(d) for d in sched.get(k, ())]
                    for k in ("holidays", "workdays")}
        except ValueError as e:
            raise CalendarError(f"calendar year {year!r}: {e}") from None
        for d in (*days["holidays"], *days["workdays"]):
            if d.year != y:
                raise CalendarError(f"calendar year {year}: {d} is not in {y}")
        years[y] = YearSchedule(days["holidays"], days["workdays"])
    return ChinaCalendar(years)
