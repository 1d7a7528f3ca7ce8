import pytest

from ledger.money import Money
from ledger.rules import (
    Bracket,
    Tier,
    budget_overruns,
    clamp,
    discount_for,
    effective_rate_bp,
    late_fee,
    marginal_rate_bp,
    price_after_discount,
    progressive_tax,
    validate_brackets,
    validate_tiers,
)

# 10 % up to 10,000.00; 20 % up to 40,000.00; 40 % above.
BRACKETS = [Bracket(1000000, 1000), Bracket(4000000, 2000), Bracket(None, 4000)]

# 5 % from 100.00; 10 % from 500.00; 15 % from 1,000.00.
TIERS = [Tier(10000, 500), Tier(50000, 1000), Tier(100000, 1500)]


@pytest.mark.parametrize(
    "income, tax",
    [
        (0, 0),
        (-500, 0),
        (500, 50),
        (1000000, 100000),
        (1000005, 100001),
        (2000000, 300000),
        (4000000, 700000),
        (4000010, 700004),
        (5000000, 1100000),
    ],
)
def test_progressive_tax(income, tax):
    assert progressive_tax(Money(income), BRACKETS) == Money(tax)


def test_tax_functions_validate_brackets():
    bad = [Bracket(100, 1000)]
    with pytest.raises(ValueError):
        progressive_tax(Money(50), bad)
    with pytest.raises(ValueError):
        marginal_rate_bp(Money(50), bad)
    with pytest.raises(ValueError):
        effective_rate_bp(Money(50), bad)


def test_progressive_tax_rounds_half_even():
    assert progressive_tax(Money(25), BRACKETS) == Money(2)
    assert progressive_tax(Money(35), BRACKETS) == Money(4)


def test_single_open_bracket():
    assert progressive_tax(Money(12345), [Bracket(None, 2000)]) == Money(2469)
    # a loss is never taxed, not even at 100 %
    assert progressive_tax(Money(-500), [Bracket(None, 10000)]) == Money(0)
    assert progressive_tax(Money(-1), [Bracket(None, 10000)]) == Money(0)


@pytest.mark.parametrize(
    "income, rate",
    [
        (0, 1000),
        (1000000, 1000),
        (1000001, 2000),
        (4000000, 2000),
        (4000001, 4000),
        (99999999, 4000),
    ],
)
def test_marginal_rate_boundaries(income, rate):
    assert marginal_rate_bp(Money(income), BRACKETS) == rate


def test_effective_rate():
    assert effective_rate_bp(Money(5000000), BRACKETS) == 2200
    assert effective_rate_bp(Money(2000000), BRACKETS) == 1500
    assert effective_rate_bp(Money(1000000), BRACKETS) == 1000
    assert effective_rate_bp(Money(0), BRACKETS) == 0
    assert effective_rate_bp(Money(-10), BRACKETS) == 0
    # 117283 / 1086415 = 10.7954 % and 141973 / 1209865 = 11.7346 %
    assert effective_rate_bp(Money(1086415), BRACKETS) == 1080
    assert effective_rate_bp(Money(1209865), BRACKETS) == 1173


@pytest.mark.parametrize(
    "brackets, message",
    [
        ([], "at least one bracket"),
        ([Bracket(100, 1000)], "last bracket must be open-ended"),
        ([Bracket(None, 1000), Bracket(None, 2000)], "only the last bracket"),
        ([Bracket(100, 1000), Bracket(100, 2000), Bracket(None, 3000)], "strictly increasing"),
        ([Bracket(0, 0), Bracket(None, 100)], "strictly increasing"),
        ([Bracket(None, 10001)], "rate out of range"),
        ([Bracket(100, -1), Bracket(None, 100)], "rate out of range"),
    ],
)
def test_validate_brackets_errors(brackets, message):
    with pytest.raises(ValueError, match=message):
        validate_brackets(brackets)


def test_validate_brackets_accepts_edge_rates():
    validate_brackets([Bracket(1, 0), Bracket(None, 10000)])
    assert progressive_tax(Money(11), [Bracket(1, 0), Bracket(None, 10000)]) == Money(10)


@pytest.mark.parametrize(
    "amount, discount",
    [
        (0, 0),
        (9999, 0),
        (10000, 500),
        (49999, 2500),
        (50000, 5000),
        (99999, 10000),
        (100000, 15000),
        (250000, 37500),
    ],
)
def test_discount_tiers(amount, discount):
    assert discount_for(Money(amount), TIERS) == Money(discount)


def test_discount_never_applies_to_non_positive_amounts():
    assert discount_for(Money(0), [Tier(0, 500)]) == Money(0)
    assert discount_for(Money(-100), [Tier(0, 500)]) == Money(0)
    assert discount_for(Money(100), [Tier(0, 500)]) == Money(5)
    assert discount_for(Money(100), []) == Money(0)
    with pytest.raises(ValueError):
        discount_for(Money(100), [Tier(100, 500), Tier(50, 600)])


def test_price_after_discount():
    assert price_after_discount(Money(50000), TIERS) == Money(45000)
    assert price_after_discount(Money(9999), TIERS) == Money(9999)
    assert price_after_discount(Money(10010), TIERS) == Money(9510)


@pytest.mark.parametrize(
    "tiers",
    [
        [Tier(-1, 100)],
        [Tier(0, 10001)],
        [Tier(0, -1)],
        [Tier(100, 500), Tier(100, 600)],
        [Tier(100, 500), Tier(50, 600)],
        [Tier(100, 500), Tier(200, 400)],
    ],
)
def test_validate_tiers_errors(tiers):
    with pytest.raises(ValueError):
        validate_tiers(tiers)


def test_validate_tiers_allows_equal_discounts():
    validate_tiers([Tier(100, 500), Tier(200, 500)])
    validate_tiers([Tier(0, 0), Tier(1, 10000)])


@pytest.mark.parametrize(
    "days_late, fee",
    [(0, 0), (5, 0), (6, 2550), (10, 2750), (154, 9950), (155, 10000), (156, 10000), (400, 10000)],
)
def test_late_fee_on_thousand(days_late, fee):
    assert late_fee(Money(100000), days_late) == Money(fee)


def test_late_fee_balance_edge_cases():
    assert late_fee(Money(0), 30) == Money(0)
    assert late_fee(Money(-100), 30) == Money(0)
    assert late_fee(Money(1), 30) == Money(2500)
    # the cap (10.00) is below the flat fee, so the flat fee stands
    assert late_fee(Money(10000), 6) == Money(2500)
    with pytest.raises(ValueError):
        late_fee(Money(100000), -1)


def test_late_fee_custom_terms_and_rounding():
    assert late_fee(Money(100000), 3, grace_days=2) == Money(2550)
    assert late_fee(Money(100000), 2, grace_days=2) == Money(0)
    assert late_fee(Money(1000), 6, flat=Money(0)) == Money(0)
    assert late_fee(Money(1000), 8, flat=Money(0)) == Money(2)
    assert late_fee(Money(100000), 20, flat=Money(100), daily_bp=10, cap_bp=500) == Money(1600)
    assert late_fee(Money(100000), 100, flat=Money(100), daily_bp=10, cap_bp=500) == Money(5000)


def test_budget_overruns():
    spent = {"food": Money(10500), "rent": Money(120000), "fun": Money(5001), "misc": Money(1)}
    budgets = {"food": Money(10000), "rent": Money(120000), "fun": Money(5000)}
    assert budget_overruns(spent, budgets) == ["food", "fun", "misc"]
    assert budget_overruns(spent, budgets, tolerance_bp=500) == ["misc"]
    assert budget_overruns({"misc": Money(0)}, {}) == []
    assert budget_overruns({}, budgets) == []
    assert budget_overruns({"food": Money(10001)}, budgets) == ["food"]


def test_budget_tolerance_rounds_half_even():
    assert budget_overruns({"a": Money(11)}, {"a": Money(10)}, tolerance_bp=500) == ["a"]
    assert budget_overruns({"a": Money(32)}, {"a": Money(30)}, tolerance_bp=500) == []
    assert budget_overruns({"a": Money(33)}, {"a": Money(30)}, tolerance_bp=500) == ["a"]


def test_clamp():
    low, high = Money(100), Money(200)
    assert clamp(Money(50), low, high) == low
    assert clamp(Money(250), low, high) == high
    assert clamp(Money(150), low, high) == Money(150)
    assert clamp(Money(100), low, high) == Money(100)
    assert clamp(Money(200), low, high) == Money(200)
    assert clamp(Money(7), Money(7), Money(7)) == Money(7)
    with pytest.raises(ValueError):
        clamp(Money(150), high, low)
