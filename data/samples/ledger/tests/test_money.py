import operator
from fractions import Fraction

import pytest

from ledger.money import (
    Money,
    MoneyError,
    allocate_cents,
    format_cents,
    parse_amount,
    round_half_even,
    round_half_up,
    sum_money,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (Fraction(5, 2), 2),
        (Fraction(7, 2), 4),
        (Fraction(-5, 2), -2),
        (Fraction(-7, 2), -4),
        (Fraction(7, 3), 2),
        (Fraction(8, 3), 3),
        (Fraction(-7, 3), -2),
        (Fraction(-8, 3), -3),
        (4, 4),
        (2.5, 2),
        (3.5, 4),
        (-0.5, 0),
    ],
)
def test_round_half_even(value, expected):
    assert round_half_even(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(1, 2), 1),
        (Fraction(-1, 2), -1),
        (Fraction(12, 5), 2),
        (Fraction(-13, 5), -3),
        (Fraction(-12, 5), -2),
        (2.5, 3),
        (-0.25, 0),
        (0, 0),
    ],
)
def test_round_half_up(value, expected):
    assert round_half_up(value) == expected


@pytest.mark.parametrize(
    "text, cents",
    [
        ("12.34", 1234),
        ("12", 1200),
        ("12.3", 1230),
        ("-0.05", -5),
        ("+7.50", 750),
        ("0", 0),
        ("1,234,567.89", 123456789),
        ("999,999", 99999900),
        (" 3.10 ", 310),
    ],
)
def test_parse_amount_valid(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "text",
    ["", "   ", "-", "1.234", "12.", ".5", "1,23.00", "1234,567", "1,2345", ",123", "12a", "1.2x", "--1", "1 000"],
)
def test_parse_amount_invalid(text):
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_parse_amount_error_message_names_input():
    with pytest.raises(MoneyError, match=r"too many decimal places in '1\.234'"):
        parse_amount("1.234")


@pytest.mark.parametrize(
    "cents, text",
    [
        (0, "0.00"),
        (5, "0.05"),
        (-5, "-0.05"),
        (-1, "-0.01"),
        (100, "1.00"),
        (99999, "999.99"),
        (100000, "1,000.00"),
        (12345678, "123,456.78"),
        (123456789, "1,234,567.89"),
        (-100000000, "-1,000,000.00"),
        (123456789012, "1,234,567,890.12"),
    ],
)
def test_format_cents(cents, text):
    assert format_cents(cents) == text


def test_format_cents_custom_separator():
    assert format_cents(123456789, separator="") == "1234567.89"
    assert format_cents(123456789, separator=" ") == "1 234 567.89"


@pytest.mark.parametrize(
    "total, ratios, expected",
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (1000, [70, 20, 10], [700, 200, 100]),
        (5, [3, 7], [2, 3]),
        (10, [1, 2], [3, 7]),
        (7, [0, 1, 1], [0, 4, 3]),
        (2, [1, 1, 1, 1], [1, 1, 0, 0]),
        (0, [1, 2], [0, 0]),
        (-1, [1, 1], [-1, 0]),
        (101, [1], [101]),
    ],
)
def test_allocate_cents(total, ratios, expected):
    result = allocate_cents(total, ratios)
    assert result == expected
    assert sum(result) == total


@pytest.mark.parametrize(
    "ratios, message",
    [([], "at least one ratio"), ([2, -1], "must not be negative"), ([0, 0], "must not all be zero")],
)
def test_allocate_cents_rejects_bad_ratios(ratios, message):
    with pytest.raises(MoneyError, match=message):
        allocate_cents(100, ratios)


def test_money_arithmetic():
    assert Money(150) + Money(250) == Money(400)
    assert Money(150) - Money(250) == Money(-100)
    assert Money(333) * 3 == Money(999)
    assert 3 * Money(-333) == Money(-999)
    assert -Money(5) == Money(-5)
    assert abs(Money(-5)) == Money(5)
    assert sum([Money(1), Money(2), Money(4)]) == Money(7)


def test_money_rejects_non_integer_cents_and_operands():
    with pytest.raises(TypeError):
        Money(1.5)
    with pytest.raises(TypeError):
        Money(True)
    with pytest.raises(TypeError):
        Money(5) * 1.5
    with pytest.raises(TypeError):
        Money(5) + 5
    with pytest.raises(TypeError):
        Money(5) - 5
    with pytest.raises(TypeError):
        1 + Money(5)
    with pytest.raises(TypeError):
        Money(5) * True
    assert 0 + Money(5) == Money(5)
    assert Money().cents == 0


def test_money_is_immutable():
    m = Money(5)
    with pytest.raises(AttributeError):
        m.cents = 6
    with pytest.raises(AttributeError):
        m.note = "no extra attributes"
    assert m == Money(5)


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge])
def test_money_ordering_against_non_money_raises(op):
    with pytest.raises(TypeError):
        op(Money(1), 1)


def test_money_comparisons():
    assert Money(1) < Money(2)
    assert not Money(2) < Money(2)
    assert Money(2) <= Money(2)
    assert not Money(3) <= Money(2)
    assert Money(3) > Money(2)
    assert not Money(2) > Money(2)
    assert Money(2) >= Money(2)
    assert not Money(1) >= Money(2)
    assert Money(5) != Money(6)
    assert Money(5) != 5
    assert len({Money(5), Money(5), Money(6)}) == 2


def test_money_truthiness_and_sign():
    assert not Money(0)
    assert Money(1)
    assert Money(-1)
    assert Money(-1).is_negative()
    assert not Money(0).is_negative()
    assert not Money(1).is_negative()


def test_money_parse_and_display():
    m = Money.parse("-1,234.56")
    assert m.cents == -123456
    assert str(m) == "-1,234.56"
    assert repr(m) == "<Money -1234.56>"


def test_scale_and_percent_rounding():
    assert Money(1000).scale(Fraction(1, 3)) == Money(333)
    assert Money(2000).scale(Fraction(1, 3)) == Money(667)
    assert Money(250).percent_bp(1000) == Money(25)
    assert Money(125).percent_bp(1000) == Money(12)
    assert Money(135).percent_bp(1000) == Money(14)
    assert Money(125).percent_bp(1000, rounding="half_up") == Money(13)
    assert Money(-125).percent_bp(1000, rounding="half_up") == Money(-13)
    assert Money(10).scale(3) == Money(30)


def test_from_fraction_unknown_rounding():
    with pytest.raises(MoneyError):
        Money.from_fraction(Fraction(1, 2), rounding="bankers")


def test_split_and_allocate():
    assert Money(1000).split(3) == [Money(334), Money(333), Money(333)]
    assert Money(1000).split(1) == [Money(1000)]
    assert Money(-1001).allocate([1, 1]) == [Money(-501), Money(-500)]
    with pytest.raises(MoneyError, match="fewer than one part"):
        Money(1000).split(0)


def test_sum_money():
    assert sum_money([Money(1), Money(2), Money(-5)]) == Money(-2)
    assert sum_money([]) == Money(0)
