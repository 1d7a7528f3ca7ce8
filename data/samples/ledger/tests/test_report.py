from datetime import date

import pytest

from ledger.money import Money
from ledger.parse import Transaction
from ledger.report import (
    category_report,
    format_table,
    income_and_expense,
    lowest_balance,
    running_balances,
    savings_rate_bp,
    top_expenses,
    total,
    totals_by_category,
    totals_by_month,
)


def T(y, m, d, cents, category, description=""):
    return Transaction(date(y, m, d), Money(cents), category, description)


# Deliberately not in date order: the utilities bill comes last.
TXNS = [
    T(2024, 1, 3, 250000, "salary"),
    T(2024, 1, 5, -4520, "groceries"),
    T(2024, 1, 5, -120000, "rent"),
    T(2024, 2, 1, -3875, "groceries"),
    T(2024, 2, 3, 250000, "salary"),
    T(2024, 2, 10, -120000, "rent"),
    T(2024, 1, 20, -9900, "utilities"),
]


def test_total():
    assert total(TXNS) == Money(241705)
    assert total([]) == Money(0)


def test_totals_by_category_sorted():
    result = totals_by_category(TXNS)
    assert list(result) == ["groceries", "rent", "salary", "utilities"]
    assert result == {
        "groceries": Money(-8395),
        "rent": Money(-240000),
        "salary": Money(500000),
        "utilities": Money(-9900),
    }


def test_totals_by_month():
    result = totals_by_month(TXNS)
    assert list(result) == ["2024-01", "2024-02"]
    assert result["2024-01"] == Money(115580)
    assert result["2024-02"] == Money(126125)


def test_income_and_expense():
    assert income_and_expense(TXNS) == (Money(500000), Money(258295))
    assert income_and_expense([]) == (Money(0), Money(0))
    assert income_and_expense([T(2024, 1, 1, 1, "a")]) == (Money(1), Money(0))
    assert income_and_expense([T(2024, 1, 1, -1, "a")]) == (Money(0), Money(1))


def test_savings_rate():
    assert savings_rate_bp(TXNS) == 4834
    assert savings_rate_bp([T(2024, 1, 1, 3, "a"), T(2024, 1, 2, -1, "b")]) == 6667
    assert savings_rate_bp([T(2024, 1, 1, 100, "a"), T(2024, 1, 2, -150, "b")]) == -5000
    assert savings_rate_bp([T(2024, 1, 1, -100, "b")]) == 0
    assert savings_rate_bp([]) == 0


def test_savings_rate_rounds_half_even():
    # 1/16 of income spent leaves 9375 bp exactly; 1/32 leaves 9687.5 -> 9688
    assert savings_rate_bp([T(2024, 1, 1, 16, "a"), T(2024, 1, 1, -1, "b")]) == 9375
    assert savings_rate_bp([T(2024, 1, 1, 32, "a"), T(2024, 1, 1, -1, "b")]) == 9688
    # 3/160 spent leaves 9812.5 -> 9812 (ties go to the even neighbour)
    assert savings_rate_bp([T(2024, 1, 1, 160, "a"), T(2024, 1, 1, -3, "b")]) == 9812


def test_running_balances_sorted_by_date_with_stable_ties():
    rows = running_balances(TXNS, opening=Money(1000))
    assert [(t.date.day, t.category) for t, _ in rows] == [
        (3, "salary"), (5, "groceries"), (5, "rent"), (20, "utilities"),
        (1, "groceries"), (3, "salary"), (10, "rent"),
    ]
    assert [b.cents for _, b in rows] == [251000, 246480, 126480, 116580, 112705, 362705, 242705]
    assert running_balances([]) == []
    only = T(2024, 1, 1, 5, "a")
    assert running_balances([only]) == [(only, Money(5))]


def test_lowest_balance():
    assert lowest_balance(TXNS, Money(1000)) == (None, Money(1000))
    dips = [T(2024, 1, 1, -500, "a"), T(2024, 1, 2, 200, "b"), T(2024, 1, 3, -300, "c")]
    assert lowest_balance(dips) == (date(2024, 1, 3), Money(-600))
    ties = [T(2024, 1, 1, -500, "a"), T(2024, 1, 2, 500, "b"), T(2024, 1, 3, -500, "c")]
    assert lowest_balance(ties) == (date(2024, 1, 1), Money(-500))
    assert lowest_balance(ties, Money(500)) == (date(2024, 1, 1), Money(0))


def test_top_expenses():
    top = top_expenses(TXNS, 3)
    assert [(t.date, t.amount.cents) for t in top] == [
        (date(2024, 1, 5), -120000),
        (date(2024, 2, 10), -120000),
        (date(2024, 1, 20), -9900),
    ]
    assert len(top_expenses(TXNS, 10)) == 5
    assert top_expenses(TXNS, 0) == []
    assert top_expenses([T(2024, 1, 1, 5, "a")], 1) == []
    small = [T(2024, 1, 1, 0, "zero"), T(2024, 1, 2, -1, "cent"), T(2024, 1, 3, 1, "in")]
    assert [t.category for t in top_expenses(small, 5)] == ["cent"]
    with pytest.raises(ValueError):
        top_expenses(TXNS, -1)


def test_format_table_alignment():
    text = format_table(
        ["Name", "Qty", "Price"],
        [["apple", "3", "1.20"], ["kiwi", "12", "0.50"]],
        numeric=(1, 2),
    )
    assert text.split("\n") == [
        "Name   Qty  Price",
        "-----  ---  -----",
        "apple    3   1.20",
        "kiwi    12   0.50",
    ]


def test_format_table_strips_trailing_space_and_honours_gap():
    assert format_table(["A", "B"], [["x", "long"]]) == "A  B\n-  ----\nx  long"
    assert format_table(["A", "B"], [["xy", "z"]], gap=1) == "A  B\n-- -\nxy z"
    assert format_table(["Head"], []) == "Head\n----"


def test_format_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 2 has 1 cells, expected 2"):
        format_table(["A", "B"], [["1", "2"], ["3"]])


def test_category_report():
    assert category_report(TXNS) == "\n".join(
        [
            "Category   Count     Amount",
            "---------  -----  ---------",
            "groceries      2     -83.95",
            "rent           2  -2,400.00",
            "salary         2   5,000.00",
            "utilities      1     -99.00",
            "TOTAL          7   2,417.05",
        ]
    )
