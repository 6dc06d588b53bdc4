"""A heating season on the site's clock: its days as local midnights, for whoever reads a
season's data (billing, refunds, the analyzer's first look back). The season's dates are
`policy.rules.Season`'s; this only places them on a time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from policy.rules import Season

DAY_MS = 86_400_000  # a calendar fact: a site day, midnight to midnight (China keeps no DST)


@dataclass(frozen=True, slots=True)
class SeasonDays:
    """A heating season as site days: its first date, its length and its first midnight."""

    first: dt.date
    n_days: int
    start_ms: int
    tz: dt.tzinfo

    @classmethod
    def from_first(cls, first: dt.date, n_days: int, tz: dt.tzinfo) -> SeasonDays:
        """The season that starts on `first` and lasts `n_days` (e.g. as a stored bill says)."""
        return cls(first, n_days, midnight_ms(first, tz), tz)

    @property
    def year(self) -> int:
        """The year the season starts in (its name: the 2024 season runs into 2025)."""
        return self.first.year

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.n_days * DAY_MS

    @property
    def offset_s(self) -> int:
        """The shift of the store's UTC day buckets onto the site's midnights."""
        return day_offset_s(self.start_ms, self.tz)

    def date(self, day: int) -> str:
        """The date of the season's day `day` (0 is the first), as YYYY-MM-DD."""
        return (self.first + dt.timedelta(days=day)).isoformat()


def season_days(season: Season, year: int, tz: dt.tzinfo) -> SeasonDays:
    """The season that starts in `year`, on the site's clock."""
    return SeasonDays.from_first(season.start(year), season.days(year), tz)


def season_at(season: Season, at_ms: int, tz: dt.tzinfo) -> SeasonDays:
    """The season an instant belongs to (or follows): by the configured start month and day."""
    day = dt.datetime.fromtimestamp(at_ms / 1000, tz).date()
    return season_days(season, season.year_of(day), tz)


def midnight_ms(day: dt.date, tz: dt.tzinfo) -> int:
    """The local midnight starting a date."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def day_offset_s(start_ms: int, tz: dt.tzinfo) -> int:
    """Seconds from a UTC midnight to the site's midnight (day buckets of read_aggregate)."""
    return int(-(dt.datetime.fromtimestamp(start_ms / 1000, tz).utcoffset()
                 or dt.timedelta()).total_seconds()) % 86400
