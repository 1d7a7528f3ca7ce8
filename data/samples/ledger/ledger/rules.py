"""Business rules: progressive tax brackets, discount tiers, late fees, budgets.

Rates are in basis points (1 bp = 0.01 %) and amounts in :class:`Money`.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, List, Optional, Sequence

from .money import Money, round_half_even


@dataclass(frozen=True)
class Bracket:
    """Income up to and including ``upper`` cents is taxed at ``rate_bp``.

    ``upper`` of ``None`` marks the open-ended top bracket.
    """

    upper: Optional[int]
    rate_bp: int


@dataclass(frozen=True)
class Tier:
    """Orders of at least ``threshold`` cents earn ``discount_bp`` off."""

    threshold: int
    discount_bp: int


def validate_brackets(brackets: Sequence[Bracket]) -> None:
    if not brackets:
        raise ValueError("at least one bracket is required")
    previous = 0
    for index, bracket in enumerate(brackets):
        if not 0 <= bracket.rate_bp <= 10000:
            raise ValueError(f"bracket {index} rate out of range")
        last = index == len(brackets) - 1
        if bracket.upper is None:
            if not last:
                raise ValueError("only the last bracket may be open-ended")
            continue
        if last:
            raise ValueError("the last bracket must be open-ended")
        if bracket.upper <= previous:
            raise ValueError("bracket limits must be strictly increasing")
        previous = bracket.upper


def progressive_tax(income: Money, brackets: Sequence[Bracket]) -> Money:
    """Tax on ``income`` where each slice is taxed at its own bracket's rate."""
    validate_brackets(brackets)
    owed = Fraction(0)
    lower = 0
    for bracket in brackets:
        upper = income.cents if bracket.upper is None else min(bracket.upper, income.cents)
        owed += Fraction(max(upper - lower, 0) * bracket.rate_bp, 10000)
        lower = upper
    return Money(round_half_even(owed))


def marginal_rate_bp(income: Money, brackets: Sequence[Bracket]) -> int:
    """Rate applied to the last cent of ``income``.

    An income exactly on a bracket limit belongs to that (lower) bracket.
    """
    validate_brackets(brackets)
    for bracket in brackets[:-1]:
        if income.cents <= bracket.upper:
            return bracket.rate_bp
    return brackets[-1].rate_bp


def effective_rate_bp(income: Money, brackets: Sequence[Bracket]) -> int:
    if income.cents <= 0:
        return 0
    tax = progressive_tax(income, brackets)
    return round_half_even(Fraction(tax.cents * 10000, income.cents))


def validate_tiers(tiers: Sequence[Tier]) -> None:
    previous: Optional[Tier] = None
    for tier in tiers:
        if tier.threshold < 0:
            raise ValueError("tier thresholds must not be negative")
        if not 0 <= tier.discount_bp <= 10000:
            raise ValueError("tier discount out of range")
        if previous is not None:
            if tier.threshold <= previous.threshold:
                raise ValueError("tier thresholds must be strictly increasing")
            if tier.discount_bp < previous.discount_bp:
                raise ValueError("tier discounts must not decrease")
        previous = tier


def discount_for(amount: Money, tiers: Sequence[Tier]) -> Money:
    """Discount earned by an order of ``amount`` (threshold is inclusive).

    Thresholds are never negative, so a zero or negative amount earns nothing.
    """
    validate_tiers(tiers)
    rate = 0
    for tier in tiers:
        if amount.cents >= tier.threshold:
            rate = tier.discount_bp
    return amount.percent_bp(rate)


def price_after_discount(amount: Money, tiers: Sequence[Tier]) -> Money:
    return amount - discount_for(amount, tiers)


def late_fee(
    balance: Money,
    days_late: int,
    grace_days: int = 5,
    flat: Money = Money(2500),
    daily_bp: int = 5,
    cap_bp: int = 1000,
) -> Money:
    """Fee for paying ``balance`` ``days_late`` days after the due date.

    Nothing is charged within the grace period (inclusive) or on a zero or
    credit balance.  After it, a flat fee plus ``daily_bp`` of the balance for
    each day past the grace period, capped at ``cap_bp`` of the balance -- but
    the cap never reduces the fee below the flat fee.
    """
    if days_late < 0:
        raise ValueError("days_late must not be negative")
    if days_late <= grace_days or balance.cents <= 0:
        return Money(0)
    chargeable = days_late - grace_days
    variable = round_half_even(Fraction(balance.cents * daily_bp * chargeable, 10000))
    fee = flat.cents + variable
    cap = max(round_half_even(Fraction(balance.cents * cap_bp, 10000)), flat.cents)
    return Money(min(fee, cap))


def budget_overruns(
    spent: Dict[str, Money], budgets: Dict[str, Money], tolerance_bp: int = 0
) -> List[str]:
    """Categories whose spending exceeds budget by more than the tolerance.

    ``spent`` holds positive amounts.  A category with no budget is always
    reported if anything was spent on it.  The result is sorted.
    """
    over = []
    for category, amount in spent.items():
        budget = budgets.get(category)
        if budget is None:
            if amount.cents > 0:
                over.append(category)
            continue
        allowed = budget.cents + round_half_even(Fraction(budget.cents * tolerance_bp, 10000))
        if amount.cents > allowed:
            over.append(category)
    return sorted(over)


def clamp(value: Money, low: Money, high: Money) -> Money:
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))
