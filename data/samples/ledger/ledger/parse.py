"""Parser for a small CSV-like ledger format.

Each non-blank line that does not start with ``#`` holds::

    date,amount,category[,description]

``date`` is ``YYYY-MM-DD``, ``amount`` is a signed decimal (negative for money
going out), ``category`` is a lower-case word that may contain ``-``, ``_`` or
``:``.  A field may be wrapped in double quotes to hold commas; a doubled quote
inside quotes stands for one quote character.  An optional header line
``date,amount,category,description`` may appear before the first record.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import List, Optional, Tuple

from .dates import parse_date
from .money import Money, MoneyError

HEADER = ("date", "amount", "category", "description")
_CATEGORY_EXTRA = frozenset("-_:")


class LedgerParseError(ValueError):
    """A problem on one line of ledger text."""

    def __init__(self, line_no: int, message: str):
        self.line_no = line_no
        self.message = message
        super().__init__(f"line {line_no}: {message}")


@dataclass(frozen=True)
class Transaction:
    date: date
    amount: Money
    category: str
    description: str = ""

    @property
    def is_expense(self) -> bool:
        return self.amount.cents < 0


def split_fields(line: str, line_no: int = 0) -> List[str]:
    """Split one line on commas, honouring double-quoted fields."""
    fields: List[str] = []
    buf: List[str] = []
    quoted = False
    in_quotes = False
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':
                    buf.append('"')
                    i += 1
                else:
                    in_quotes = False
            else:
                buf.append(ch)
        elif ch == ",":
            text = "".join(buf)
            fields.append(text if quoted else text.strip())
            buf = []
            quoted = False
        elif quoted:
            if not ch.isspace():
                raise LedgerParseError(line_no, "unexpected text after closing quote")
        elif ch == '"':
            if "".join(buf).strip():
                raise LedgerParseError(line_no, "quote inside unquoted field")
            buf = []
            quoted = True
            in_quotes = True
        else:
            buf.append(ch)
        i += 1
    if in_quotes:
        raise LedgerParseError(line_no, "unterminated quote")
    text = "".join(buf)
    fields.append(text if quoted else text.strip())
    return fields


def _valid_category(category: str) -> bool:
    if not category or not category[0].isalpha():
        return False
    return all((ch.isascii() and ch.isalnum()) or ch in _CATEGORY_EXTRA for ch in category)


def build_transaction(fields: List[str], line_no: int) -> Transaction:
    if len(fields) < 3 or len(fields) > 4:
        raise LedgerParseError(line_no, f"expected 3 or 4 fields, got {len(fields)}")
    date_text, amount_text, category = fields[0], fields[1], fields[2]
    description = fields[3] if len(fields) == 4 else ""
    try:
        when = parse_date(date_text)
    except ValueError:
        raise LedgerParseError(line_no, f"bad date {date_text!r}") from None
    try:
        amount = Money.parse(amount_text)
    except MoneyError:
        raise LedgerParseError(line_no, f"bad amount {amount_text!r}") from None
    if amount.cents == 0:
        raise LedgerParseError(line_no, "amount must not be zero")
    category = category.strip().lower()
    if not category:
        raise LedgerParseError(line_no, "missing category")
    if not _valid_category(category):
        raise LedgerParseError(line_no, f"bad category {category!r}")
    return Transaction(when, amount, category, description)


def _is_header(fields: List[str]) -> bool:
    lowered = tuple(f.strip().lower() for f in fields)
    return len(lowered) >= 3 and lowered == HEADER[: len(lowered)]


def parse_ledger(text: str, require_sorted: bool = False) -> List[Transaction]:
    """Parse ledger text, raising :class:`LedgerParseError` on the first problem."""
    transactions, errors = parse_ledger_lenient(text, require_sorted)
    if errors:
        raise errors[0]
    return transactions


def parse_ledger_lenient(
    text: str, require_sorted: bool = False
) -> Tuple[List[Transaction], List[LedgerParseError]]:
    """Parse every good line and collect an error for every bad one."""
    transactions: List[Transaction] = []
    errors: List[LedgerParseError] = []
    seen_record = False
    last_date: Optional[date] = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = split_fields(line, line_no)
            if not seen_record and _is_header(fields):
                seen_record = True
                continue
            seen_record = True
            txn = build_transaction(fields, line_no)
            if require_sorted and last_date is not None and txn.date < last_date:
                raise LedgerParseError(line_no, f"date {txn.date.isoformat()} is out of order")
        except LedgerParseError as exc:
            errors.append(exc)
            continue
        last_date = txn.date
        transactions.append(txn)
    return transactions, errors


def format_transaction(txn: Transaction) -> str:
    """Render a transaction back into one ledger line."""
    parts = [txn.date.isoformat(), _plain_amount(txn.amount.cents), txn.category]
    if txn.description:
        desc = txn.description
        if any(ch in desc for ch in ',"') or desc != desc.strip():
            desc = '"' + desc.replace('"', '""') + '"'
        parts.append(desc)
    return ",".join(parts)


def _plain_amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
