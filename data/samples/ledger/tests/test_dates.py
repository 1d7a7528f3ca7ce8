import re
from datetime import date

import pytest

from ledger.dates import (
    DateRange,
    add_business_days,
    add_months,
    business_days_between,
    days_between,
    days_in_month,
    is_business_day,
    is_leap_year,
    is_month_end,
    is_weekend,
    month_end,
    month_key,
    next_business_day,
    parse_date,
    roll_months,
)

# June 2024: the 1st and 8th are Saturdays, the 3rd and 10th Mondays.
MON = date(2024, 6, 3)
FRI = date(2024, 6, 7)
SAT = date(2024, 6, 8)
NEXT_MON = date(2024, 6, 10)


@pytest.mark.parametrize(
    "year, leap", [(2024, True), (2023, False), (1900, False), (2000, True), (2100, False), (2400, True)]
)
def test_is_leap_year(year, leap):
    assert is_leap_year(year) is leap


@pytest.mark.parametrize(
    "year, month, days",
    [(2024, 2, 29), (2023, 2, 28), (1900, 2, 28), (2023, 4, 30), (2023, 1, 31), (2023, 12, 31), (2023, 11, 30)],
)
def test_days_in_month(year, month, days):
    assert days_in_month(year, month) == days


def test_days_in_every_month():
    assert [days_in_month(2023, m) for m in range(1, 13)] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert [days_in_month(2024, m) for m in range(1, 13)] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@pytest.mark.parametrize("month", [0, 13])
def test_days_in_month_rejects_bad_month(month):
    with pytest.raises(ValueError):
        days_in_month(2024, month)


def test_parse_date_valid():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    assert parse_date("2024-04-30") == date(2024, 4, 30)
    assert parse_date(" 2024-01-05 ") == date(2024, 1, 5)
    assert parse_date("0001-01-01") == date(1, 1, 1)
    assert parse_date("2023-12-31") == date(2023, 12, 31)


@pytest.mark.parametrize(
    "text",
    ["2023-02-29", "2024-13-01", "2024-00-10", "2024-01-00", "2024-1-01", "2024/01/01",
     "2024-01-32", "2024-04-31", "0000-01-01", "2024-0a-01", "", "20240101xx"],
)
def test_parse_date_invalid(text):
    # the message must come from parse_date itself and quote the input
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_date(text)


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 11, 15), 2, date(2025, 1, 15)),
        (date(2024, 1, 15), -1, date(2023, 12, 15)),
        (date(2024, 12, 31), 12, date(2025, 12, 31)),
        (date(2024, 5, 30), 1, date(2024, 6, 30)),
        (date(2024, 12, 1), 1, date(2025, 1, 1)),
        (date(2024, 1, 1), -13, date(2022, 12, 1)),
        (date(2024, 2, 29), 0, date(2024, 2, 29)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (date(2024, 2, 29), 1, date(2024, 3, 31)),
        (date(2024, 4, 30), 1, date(2024, 5, 31)),
        (date(2024, 4, 29), 1, date(2024, 5, 29)),
        (date(2023, 2, 28), 12, date(2024, 2, 29)),
        (date(2024, 2, 28), 1, date(2024, 3, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
    ],
)
def test_roll_months_keeps_month_end(start, months, expected):
    assert roll_months(start, months) == expected


def test_month_helpers():
    assert month_end(date(2024, 2, 10)) == date(2024, 2, 29)
    assert month_end(date(2023, 9, 30)) == date(2023, 9, 30)
    assert is_month_end(date(2023, 9, 30))
    assert not is_month_end(date(2023, 9, 29))
    assert month_key(date(2024, 3, 5)) == "2024-03"
    assert month_key(date(987, 11, 1)) == "0987-11"


def test_days_between_is_signed():
    assert days_between(date(2024, 1, 1), date(2024, 3, 1)) == 60
    assert days_between(date(2023, 1, 1), date(2023, 3, 1)) == 59
    assert days_between(date(2024, 3, 1), date(2024, 1, 1)) == -60
    assert days_between(MON, MON) == 0


def test_weekend_and_business_day():
    assert is_weekend(SAT)
    assert is_weekend(date(2024, 6, 9))
    assert not is_weekend(FRI)
    assert not is_weekend(MON)
    assert is_business_day(FRI)
    assert not is_business_day(SAT)
    assert not is_business_day(FRI, holidays={FRI})


def test_business_days_between():
    assert business_days_between(MON, NEXT_MON) == 5
    assert business_days_between(MON, NEXT_MON, holidays={date(2024, 6, 5)}) == 4
    assert business_days_between(NEXT_MON, MON) == -5
    assert business_days_between(MON, MON) == 0
    assert business_days_between(FRI, NEXT_MON) == 1
    assert business_days_between(SAT, NEXT_MON) == 0
    assert business_days_between(MON, date(2024, 6, 4)) == 1


def test_add_business_days():
    assert add_business_days(FRI, 1) == NEXT_MON
    assert add_business_days(date(2024, 6, 6), 1) == FRI
    assert add_business_days(NEXT_MON, -1) == FRI
    assert add_business_days(FRI, 0) == FRI
    assert add_business_days(SAT, 0) == SAT
    assert add_business_days(FRI, 1, holidays={NEXT_MON}) == date(2024, 6, 11)
    assert add_business_days(MON, 5) == NEXT_MON
    assert add_business_days(MON, -2) == date(2024, 5, 30)


def test_next_business_day():
    assert next_business_day(SAT) == NEXT_MON
    assert next_business_day(NEXT_MON) == NEXT_MON
    assert next_business_day(SAT, holidays={NEXT_MON}) == date(2024, 6, 11)


def _r(a, b):
    """A range of January 2024 days, inclusive."""
    return DateRange(date(2024, 1, a), date(2024, 1, b))


def test_date_range_basics():
    jan = DateRange(date(2024, 1, 1), date(2024, 1, 31))
    assert jan.days == 31
    assert DateRange(MON, MON).days == 1
    assert date(2024, 1, 1) in jan
    assert date(2024, 1, 31) in jan
    assert date(2023, 12, 31) not in jan
    assert date(2024, 2, 1) not in jan
    assert DateRange.for_month(2024, 2) == DateRange(date(2024, 2, 1), date(2024, 2, 29))
    assert list(DateRange(FRI, NEXT_MON)) == [FRI, SAT, date(2024, 6, 9), NEXT_MON]
    assert repr(jan) == "DateRange(2024-01-01, 2024-01-31)"


def test_date_range_equality_and_hashing():
    assert _r(1, 2) == _r(1, 2)
    assert _r(1, 2) != _r(1, 3)
    assert _r(1, 3) != _r(2, 3)
    assert _r(1, 2) != "2024-01-01..2024-01-02"
    assert not (_r(1, 2) == None)  # noqa: E711
    assert len({_r(1, 2), _r(1, 2), _r(1, 3)}) == 2
    assert {_r(1, 2): "a"}[DateRange(date(2024, 1, 1), date(2024, 1, 2))] == "a"


def test_date_range_validation():
    single = DateRange(date(2024, 1, 2), date(2024, 1, 2))
    assert (single.start, single.end) == (date(2024, 1, 2), date(2024, 1, 2))
    with pytest.raises(ValueError, match="ends"):
        DateRange(date(2024, 1, 2), date(2024, 1, 1))


def test_overlap_and_intersection():
    assert _r(1, 10).overlaps(_r(10, 20))
    assert _r(10, 20).overlaps(_r(1, 10))
    assert not _r(1, 10).overlaps(_r(11, 20))
    assert not _r(11, 20).overlaps(_r(1, 10))
    assert _r(1, 31).overlaps(_r(5, 6))
    assert _r(1, 10).intersection(_r(5, 20)) == _r(5, 10)
    assert _r(5, 20).intersection(_r(1, 10)) == _r(5, 10)
    assert _r(1, 10).intersection(_r(10, 12)) == _r(10, 10)
    assert _r(1, 10).intersection(_r(11, 12)) is None


def test_adjacent_and_merge():
    assert _r(1, 10).is_adjacent(_r(11, 20))
    assert _r(11, 20).is_adjacent(_r(1, 10))
    assert not _r(1, 10).is_adjacent(_r(12, 20))
    assert not _r(1, 10).is_adjacent(_r(10, 20))
    assert _r(1, 10).merge(_r(11, 20)) == _r(1, 20)
    assert _r(1, 10).merge(_r(5, 8)) == _r(1, 10)
    assert _r(5, 12).merge(_r(1, 8)) == _r(1, 12)
    with pytest.raises(ValueError):
        _r(1, 10).merge(_r(12, 20))


def test_split_by_month():
    pieces = DateRange(date(2024, 1, 20), date(2024, 3, 5)).split_by_month()
    assert pieces == [
        DateRange(date(2024, 1, 20), date(2024, 1, 31)),
        DateRange(date(2024, 2, 1), date(2024, 2, 29)),
        DateRange(date(2024, 3, 1), date(2024, 3, 5)),
    ]
    assert sum(p.days for p in pieces) == 46
    assert _r(3, 3).split_by_month() == [_r(3, 3)]
    assert DateRange.for_month(2023, 4).split_by_month() == [DateRange.for_month(2023, 4)]


def test_range_business_days_is_inclusive():
    assert DateRange(MON, date(2024, 6, 9)).business_days() == 5
    assert DateRange(MON, NEXT_MON).business_days() == 6
    assert DateRange(SAT, SAT).business_days() == 0
    assert DateRange(MON, FRI).business_days(holidays={MON}) == 4
