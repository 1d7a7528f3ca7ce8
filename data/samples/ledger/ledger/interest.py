"""Simple and compound interest and loan amortisation.

Rates are given in basis points per year (525 bp = 5.25 %).  All intermediate
arithmetic is exact; results are rounded half-even to whole cents.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import List

from .money import Money, round_half_even

DAY_COUNT_BASES = (360, 365)


def _rate(rate_bp: int) -> Fraction:
    if rate_bp < 0:
        raise ValueError("interest rate must not be negative")
    return Fraction(rate_bp, 10000)


def simple_interest(principal: Money, rate_bp: int, days: int, basis: int = 365) -> Money:
    """Interest accrued on ``principal`` over ``days`` days, without compounding."""
    if days < 0:
        raise ValueError("days must not be negative")
    if basis not in DAY_COUNT_BASES:
        raise ValueError(f"unsupported day-count basis {basis}")
    accrued = Fraction(principal.cents) * _rate(rate_bp) * days / basis
    return Money(round_half_even(accrued))


def compound_amount(principal: Money, rate_bp: int, periods_per_year: int, years: int) -> Money:
    """Principal plus interest compounded ``periods_per_year`` times a year."""
    if periods_per_year < 1:
        raise ValueError("periods_per_year must be at least 1")
    if years < 0:
        raise ValueError("years must not be negative")
    growth = (1 + _rate(rate_bp) / periods_per_year) ** (periods_per_year * years)
    return Money(round_half_even(principal.cents * growth))


def effective_annual_rate_bp(rate_bp: int, periods_per_year: int) -> int:
    """Nominal rate converted to an effective annual rate, in whole basis points."""
    if periods_per_year < 1:
        raise ValueError("periods_per_year must be at least 1")
    growth = (1 + _rate(rate_bp) / periods_per_year) ** periods_per_year
    return round_half_even((growth - 1) * 10000)


def periodic_payment(principal: Money, rate_bp: int, periods: int, periods_per_year: int = 12) -> Money:
    """Level payment that repays ``principal`` over ``periods`` instalments.

    With a zero rate the principal is divided evenly, rounding the payment up
    so that the instalments never fall short.
    """
    if periods < 1:
        raise ValueError("periods must be at least 1")
    if principal.cents < 0:
        raise ValueError("principal must not be negative")
    if rate_bp == 0:
        return Money(-(-principal.cents // periods))
    r = _rate(rate_bp) / periods_per_year
    factor = (1 + r) ** periods
    return Money(round_half_even(principal.cents * r * factor / (factor - 1)))


@dataclass(frozen=True)
class Installment:
    number: int
    payment: Money
    interest: Money
    principal: Money
    balance: Money


def amortisation_schedule(
    principal: Money, rate_bp: int, periods: int, periods_per_year: int = 12
) -> List[Installment]:
    """Month-by-month repayment table.

    Each instalment's interest is rounded half-even on the outstanding balance.
    The last instalment absorbs any rounding drift so the balance ends at zero;
    if the balance is cleared early the schedule stops there.
    """
    payment = periodic_payment(principal, rate_bp, periods, periods_per_year).cents
    r = _rate(rate_bp) / periods_per_year
    balance = principal.cents
    rows: List[Installment] = []
    for number in range(1, periods + 1):
        interest = round_half_even(balance * r)
        if number == periods:
            repaid = balance
        else:
            repaid = min(payment - interest, balance)
        balance -= repaid
        rows.append(
            Installment(number, Money(repaid + interest), Money(interest), Money(repaid), Money(balance))
        )
        if balance == 0:
            break
    return rows


def total_interest(schedule: List[Installment]) -> Money:
    return Money(sum(row.interest.cents for row in schedule))


def total_paid(schedule: List[Installment]) -> Money:
    return Money(sum(row.payment.cents for row in schedule))
