"""Calendar helpers built only on :mod:`datetime`."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Collection, Iterator, List, Optional

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ONE_DAY = timedelta(days=1)


def is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    if month == 2 and is_leap_year(year):
        return 29
    return _MONTH_DAYS[month - 1]


def is_month_end(day: date) -> bool:
    return day.day == days_in_month(day.year, day.month)


def month_end(day: date) -> date:
    return day.replace(day=days_in_month(day.year, day.month))


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_date(text: str) -> date:
    """Parse a strict ``YYYY-MM-DD`` date."""
    s = text.strip()
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
    parts = (s[:4], s[5:7], s[8:])
    for part in parts:
        if not part.isascii() or not part.isdigit():
            raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
    year, month, day = (int(p) for p in parts)
    if year < 1 or not 1 <= month <= 12:
        raise ValueError(f"invalid date {text!r}")
    if not 1 <= day <= days_in_month(year, month):
        raise ValueError(f"invalid date {text!r}")
    return date(year, month, day)


def add_months(day: date, months: int) -> date:
    """Shift by whole months, clamping the day to the target month's length."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return date(year, month, min(day.day, days_in_month(year, month)))


def roll_months(day: date, months: int) -> date:
    """Like :func:`add_months`, but a month-end date stays on the month end."""
    if is_month_end(day):
        return month_end(add_months(day, months))
    return add_months(day, months)


def days_between(start: date, end: date) -> int:
    return (end - start).days


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def is_business_day(day: date, holidays: Collection[date] = ()) -> bool:
    return not is_weekend(day) and day not in holidays


def business_days_between(start: date, end: date, holidays: Collection[date] = ()) -> int:
    """Count business days in the half-open interval ``[start, end)``.

    If ``end`` is before ``start`` the count of ``[end, start)`` is returned
    negated.
    """
    if end < start:
        return -business_days_between(end, start, holidays)
    count = 0
    current = start
    while current < end:
        if is_business_day(current, holidays):
            count += 1
        current += _ONE_DAY
    return count


def add_business_days(day: date, count: int, holidays: Collection[date] = ()) -> date:
    """Move ``count`` business days forwards (or backwards when negative)."""
    step = _ONE_DAY if count >= 0 else -_ONE_DAY
    remaining = abs(count)
    current = day
    while remaining > 0:
        current += step
        if is_business_day(current, holidays):
            remaining -= 1
    return current


def next_business_day(day: date, holidays: Collection[date] = ()) -> date:
    """Return ``day`` itself if it is a business day, else the next one."""
    current = day
    while not is_business_day(current, holidays):
        current += _ONE_DAY
    return current


class DateRange:
    """An inclusive range of calendar days."""

    def __init__(self, start: date, end: date):
        if end < start:
            raise ValueError(f"range ends ({end}) before it starts ({start})")
        self.start = start
        self.end = end

    @classmethod
    def for_month(cls, year: int, month: int) -> "DateRange":
        return cls(date(year, month, 1), date(year, month, days_in_month(year, month)))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def __iter__(self) -> Iterator[date]:
        current = self.start
        while current <= self.end:
            yield current
            current += _ONE_DAY

    def __eq__(self, other) -> bool:
        if not isinstance(other, DateRange):
            return NotImplemented
        return self.start == other.start and self.end == other.end

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __repr__(self) -> str:
        return f"DateRange({self.start.isoformat()}, {self.end.isoformat()})"

    def overlaps(self, other: "DateRange") -> bool:
        return self.start <= other.end and other.start <= self.end

    def intersection(self, other: "DateRange") -> Optional["DateRange"]:
        if not self.overlaps(other):
            return None
        return DateRange(max(self.start, other.start), min(self.end, other.end))

    def is_adjacent(self, other: "DateRange") -> bool:
        return self.end + _ONE_DAY == other.start or other.end + _ONE_DAY == self.start

    def merge(self, other: "DateRange") -> "DateRange":
        if not (self.overlaps(other) or self.is_adjacent(other)):
            raise ValueError("ranges neither overlap nor touch")
        return DateRange(min(self.start, other.start), max(self.end, other.end))

    def split_by_month(self) -> List["DateRange"]:
        pieces = []
        current = self.start
        while current <= self.end:
            last = min(month_end(current), self.end)
            pieces.append(DateRange(current, last))
            current = last + _ONE_DAY
        return pieces

    def business_days(self, holidays: Collection[date] = ()) -> int:
        return business_days_between(self.start, self.end + _ONE_DAY, holidays)
