"""Aggregations over transactions and fixed-width text tables."""
from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

from .dates import month_key
from .money import Money, round_half_even
from .parse import Transaction


def total(transactions: Sequence[Transaction]) -> Money:
    return Money(sum(t.amount.cents for t in transactions))


def totals_by_category(transactions: Sequence[Transaction]) -> Dict[str, Money]:
    sums: Dict[str, int] = {}
    for txn in transactions:
        sums[txn.category] = sums.get(txn.category, 0) + txn.amount.cents
    return {key: Money(sums[key]) for key in sorted(sums)}


def totals_by_month(transactions: Sequence[Transaction]) -> Dict[str, Money]:
    sums: Dict[str, int] = {}
    for txn in transactions:
        key = month_key(txn.date)
        sums[key] = sums.get(key, 0) + txn.amount.cents
    return {key: Money(sums[key]) for key in sorted(sums)}


def income_and_expense(transactions: Sequence[Transaction]) -> Tuple[Money, Money]:
    """Return (money in, money out), both as non-negative amounts."""
    income = 0
    expense = 0
    for txn in transactions:
        if txn.amount.cents > 0:
            income += txn.amount.cents
        else:
            expense -= txn.amount.cents
    return Money(income), Money(expense)


def savings_rate_bp(transactions: Sequence[Transaction]) -> int:
    """Share of income left after expenses, in basis points (may be negative)."""
    income, expense = income_and_expense(transactions)
    if income.cents == 0:
        return 0
    return round_half_even(Fraction((income.cents - expense.cents) * 10000, income.cents))


def running_balances(
    transactions: Sequence[Transaction], opening: Money = Money(0)
) -> List[Tuple[Transaction, Money]]:
    """Balance after each transaction, in date order (ties keep input order)."""
    ordered = sorted(transactions, key=lambda t: t.date)
    balance = opening.cents
    rows = []
    for txn in ordered:
        balance += txn.amount.cents
        rows.append((txn, Money(balance)))
    return rows


def lowest_balance(
    transactions: Sequence[Transaction], opening: Money = Money(0)
) -> Tuple[Optional[date], Money]:
    """The first point at which the running balance reaches its minimum.

    Returns ``(None, opening)`` when no transaction takes the balance below the
    opening balance.
    """
    low_date: Optional[date] = None
    low = opening.cents
    for txn, balance in running_balances(transactions, opening):
        if balance.cents < low:
            low = balance.cents
            low_date = txn.date
    return low_date, Money(low)


def top_expenses(transactions: Sequence[Transaction], count: int) -> List[Transaction]:
    """The ``count`` largest outgoings, biggest first; ties keep date order."""
    if count < 0:
        raise ValueError("count must not be negative")
    expenses = [t for t in transactions if t.amount.cents < 0]
    expenses.sort(key=lambda t: (t.amount.cents, t.date))
    return expenses[:count]


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
    gap: int = 2,
) -> str:
    """Lay out ``rows`` under ``headers`` in fixed-width columns.

    Columns whose index is listed in ``numeric`` are right-aligned, all others
    left-aligned.  A dashed rule separates the header from the body.  Trailing
    spaces are removed from every line.
    """
    width = len(headers)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} cells, expected {width}")
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    spacer = " " * gap

    def render(cells: Sequence[str]) -> str:
        out = []
        for index, cell in enumerate(cells):
            if index in numeric:
                out.append(cell.rjust(widths[index]))
            else:
                out.append(cell.ljust(widths[index]))
        return spacer.join(out).rstrip()

    lines = [render(headers), spacer.join("-" * w for w in widths)]
    lines.extend(render(row) for row in rows)
    return "\n".join(lines)


def category_report(transactions: Sequence[Transaction]) -> str:
    """Per-category count and total, with a closing TOTAL line."""
    counts: Dict[str, int] = {}
    for txn in transactions:
        counts[txn.category] = counts.get(txn.category, 0) + 1
    rows = []
    for category, amount in totals_by_category(transactions).items():
        rows.append([category, str(counts[category]), str(amount)])
    rows.append(["TOTAL", str(len(transactions)), str(total(transactions))])
    return format_table(["Category", "Count", "Amount"], rows, numeric=(1, 2))
