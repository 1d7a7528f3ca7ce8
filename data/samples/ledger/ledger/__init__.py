"""ledger: a small personal-ledger toolkit."""
from .dates import (
    DateRange,
    add_business_days,
    add_months,
    business_days_between,
    days_between,
    days_in_month,
    is_business_day,
    is_leap_year,
    month_end,
    month_key,
    next_business_day,
    parse_date,
    roll_months,
)
from .interest import (
    Installment,
    amortisation_schedule,
    compound_amount,
    effective_annual_rate_bp,
    periodic_payment,
    simple_interest,
    total_interest,
    total_paid,
)
from .money import (
    Money,
    MoneyError,
    allocate_cents,
    format_cents,
    parse_amount,
    round_half_even,
    round_half_up,
    sum_money,
)
from .parse import (
    LedgerParseError,
    Transaction,
    format_transaction,
    parse_ledger,
    parse_ledger_lenient,
    split_fields,
)
from .report import (
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
from .rules import (
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
)

__version__ = "0.3.0"

__all__ = [
    "Bracket", "DateRange", "Installment", "LedgerParseError", "Money", "MoneyError",
    "Tier", "Transaction", "add_business_days", "add_months", "allocate_cents",
    "amortisation_schedule", "budget_overruns", "business_days_between",
    "category_report", "clamp", "compound_amount", "days_between", "days_in_month",
    "discount_for", "effective_annual_rate_bp", "effective_rate_bp", "format_cents",
    "format_table", "format_transaction", "income_and_expense", "is_business_day",
    "is_leap_year", "late_fee", "lowest_balance", "marginal_rate_bp", "month_end",
    "month_key", "next_business_day", "parse_amount", "parse_date", "parse_ledger",
    "parse_ledger_lenient", "periodic_payment", "price_after_discount",
    "progressive_tax", "round_half_even", "round_half_up", "roll_months",
    "running_balances", "savings_rate_bp", "simple_interest", "split_fields",
    "sum_money", "top_expenses", "total", "total_interest", "total_paid",
    "totals_by_category", "totals_by_month",
]
