import pytest

from ledger.interest import (
    Installment,
    amortisation_schedule,
    compound_amount,
    effective_annual_rate_bp,
    periodic_payment,
    simple_interest,
    total_interest,
    total_paid,
)
from ledger.money import Money

THOUSAND = Money(100000)  # 1,000.00


def test_simple_interest_full_year_and_part_year():
    assert simple_interest(THOUSAND, 500, 365) == Money(5000)
    assert simple_interest(THOUSAND, 500, 73) == Money(1000)
    assert simple_interest(THOUSAND, 400, 90, basis=360) == Money(1000)
    assert simple_interest(THOUSAND, 400, 90) == Money(986)
    assert simple_interest(THOUSAND, 500, 0) == Money(0)
    assert simple_interest(THOUSAND, 0, 365) == Money(0)


def test_simple_interest_rounds_half_even():
    assert simple_interest(Money(1), 5000, 365) == Money(0)
    assert simple_interest(Money(3), 5000, 365) == Money(2)
    assert simple_interest(Money(5), 5000, 365) == Money(2)


@pytest.mark.parametrize(
    "kwargs",
    [dict(rate_bp=500, days=-1), dict(rate_bp=500, days=10, basis=364), dict(rate_bp=-1, days=10)],
)
def test_simple_interest_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        simple_interest(THOUSAND, **kwargs)


def test_compound_amount():
    assert compound_amount(THOUSAND, 1000, 1, 2) == Money(121000)
    assert compound_amount(THOUSAND, 1200, 12, 1) == Money(112683)
    assert compound_amount(THOUSAND, 1000, 2, 1) == Money(110250)
    assert compound_amount(THOUSAND, 500, 4, 0) == THOUSAND
    assert compound_amount(THOUSAND, 0, 12, 5) == THOUSAND


def test_compound_amount_rejects_bad_input():
    with pytest.raises(ValueError):
        compound_amount(THOUSAND, 500, 0, 1)
    with pytest.raises(ValueError):
        compound_amount(THOUSAND, 500, 12, -1)


@pytest.mark.parametrize(
    "rate_bp, periods, expected",
    [
        (1200, 12, 1268),
        (1000, 1, 1000),
        (1000, 2, 1025),
        (400, 4, 406),
        (500, 4, 509),  # 509.45...
        (1500, 4, 1587),  # 1586.50...
        (0, 12, 0),
    ],
)
def test_effective_annual_rate(rate_bp, periods, expected):
    assert effective_annual_rate_bp(rate_bp, periods) == expected


def test_effective_annual_rate_rejects_zero_periods():
    with pytest.raises(ValueError):
        effective_annual_rate_bp(500, 0)


def test_periodic_payment():
    assert periodic_payment(THOUSAND, 1200, 12) == Money(8885)
    assert periodic_payment(THOUSAND, 1200, 1) == Money(101000)
    assert periodic_payment(THOUSAND, 1200, 4, periods_per_year=4) == Money(26903)


def test_periodic_payment_zero_rate_rounds_up():
    assert periodic_payment(THOUSAND, 0, 3) == Money(33334)
    assert periodic_payment(Money(99), 0, 3) == Money(33)
    assert periodic_payment(Money(100), 0, 1) == Money(100)
    assert periodic_payment(Money(0), 0, 3) == Money(0)
    assert periodic_payment(Money(0), 1200, 12) == Money(0)


def test_periodic_payment_rejects_bad_input():
    with pytest.raises(ValueError):
        periodic_payment(THOUSAND, 1200, 0)
    with pytest.raises(ValueError):
        periodic_payment(Money(-1), 1200, 12)


def test_amortisation_schedule_first_rows_and_last_row():
    rows = amortisation_schedule(THOUSAND, 1200, 12)
    assert len(rows) == 12
    assert rows[0] == Installment(1, Money(8885), Money(1000), Money(7885), Money(92115))
    assert rows[1] == Installment(2, Money(8885), Money(921), Money(7964), Money(84151))
    assert rows[2] == Installment(3, Money(8885), Money(842), Money(8043), Money(76108))
    assert rows[-1] == Installment(12, Money(8884), Money(88), Money(8796), Money(0))


def test_amortisation_totals():
    rows = amortisation_schedule(THOUSAND, 1200, 12)
    assert total_interest(rows) == Money(6619)
    assert total_paid(rows) == Money(106619)
    assert sum(r.principal.cents for r in rows) == 100000
    assert [r.number for r in rows] == list(range(1, 13))


def test_amortisation_zero_rate():
    rows = amortisation_schedule(Money(1000), 0, 3)
    assert [r.payment.cents for r in rows] == [334, 334, 332]
    assert [r.balance.cents for r in rows] == [666, 332, 0]
    assert total_interest(rows) == Money(0)


def test_amortisation_stops_once_balance_is_cleared():
    rows = amortisation_schedule(Money(4), 0, 3)
    assert [(r.payment.cents, r.balance.cents) for r in rows] == [(2, 2), (2, 0)]


def test_amortisation_last_row_absorbs_positive_drift():
    rows = amortisation_schedule(THOUSAND, 1200, 3)
    assert rows == [
        Installment(1, Money(34002), Money(1000), Money(33002), Money(66998)),
        Installment(2, Money(34002), Money(670), Money(33332), Money(33666)),
        Installment(3, Money(34003), Money(337), Money(33666), Money(0)),
    ]


def test_amortisation_single_period():
    rows = amortisation_schedule(THOUSAND, 1200, 1)
    assert rows == [Installment(1, Money(101000), Money(1000), THOUSAND, Money(0))]
