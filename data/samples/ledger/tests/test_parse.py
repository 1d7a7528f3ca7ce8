from datetime import date

import pytest

from ledger.money import Money
from ledger.parse import (
    LedgerParseError,
    Transaction,
    format_transaction,
    parse_ledger,
    parse_ledger_lenient,
    split_fields,
)

SAMPLE = """\
# household ledger
date,amount,category,description
2024-01-03,2500.00,salary,January pay
2024-01-05,-45.20,groceries,"Market, weekly"
2024-01-05,-1200,rent
2024-02-01,-38.75, Groceries ,corner shop

2024-02-03,"2,500.00",salary,February pay
"""


@pytest.mark.parametrize(
    "line, fields",
    [
        ("a,b,c", ["a", "b", "c"]),
        (" a , b ,c ", ["a", "b", "c"]),
        ('a,"x, y",c', ["a", "x, y", "c"]),
        ('a,"say ""hi""",c', ["a", 'say "hi"', "c"]),
        ('"  padded  ",b', ["  padded  ", "b"]),
        ('"x"  ,b', ["x", "b"]),
        ('a,  "q",c', ["a", "q", "c"]),
        ("a,,b", ["a", "", "b"]),
        ("a,", ["a", ""]),
        ('""', [""]),
        ("single", ["single"]),
    ],
)
def test_split_fields(line, fields):
    assert split_fields(line) == fields


@pytest.mark.parametrize(
    "line, message",
    [
        ('a,"open', "line 7: unterminated quote"),
        ('a,"x"y', "line 7: unexpected text after closing quote"),
        ('a,b"c"', "line 7: quote inside unquoted field"),
        ('a,"x""', "line 7: unterminated quote"),
    ],
)
def test_split_fields_errors(line, message):
    with pytest.raises(LedgerParseError) as info:
        split_fields(line, 7)
    assert str(info.value) == message
    assert info.value.line_no == 7


def test_split_fields_default_line_number():
    with pytest.raises(LedgerParseError, match="^line 0: unterminated quote$"):
        split_fields('"x')


def test_is_expense_sign_boundary():
    day = date(2024, 1, 1)
    assert Transaction(day, Money(-1), "a").is_expense
    assert not Transaction(day, Money(0), "a").is_expense
    assert not Transaction(day, Money(1), "a").is_expense


def test_parse_sample_ledger():
    txns = parse_ledger(SAMPLE)
    assert txns == [
        Transaction(date(2024, 1, 3), Money(250000), "salary", "January pay"),
        Transaction(date(2024, 1, 5), Money(-4520), "groceries", "Market, weekly"),
        Transaction(date(2024, 1, 5), Money(-120000), "rent", ""),
        Transaction(date(2024, 2, 1), Money(-3875), "groceries", "corner shop"),
        Transaction(date(2024, 2, 3), Money(250000), "salary", "February pay"),
    ]
    assert [t.is_expense for t in txns] == [False, True, True, True, False]


def test_header_variants_are_skipped_only_before_first_record():
    assert len(parse_ledger("Date,Amount,Category\n2024-01-01,1.00,food\n")) == 1
    assert len(parse_ledger("DATE , AMOUNT , CATEGORY , DESCRIPTION\n2024-01-01,1.00,food\n")) == 1
    with pytest.raises(LedgerParseError) as info:
        parse_ledger("2024-01-01,1.00,food\ndate,amount,category\n")
    assert str(info.value) == "line 2: bad date 'date'"
    with pytest.raises(LedgerParseError) as info:
        parse_ledger("date,amount,category\ndate,amount,category\n")
    assert str(info.value) == "line 2: bad date 'date'"
    with pytest.raises(LedgerParseError) as info:
        parse_ledger("date,amount\n")
    assert str(info.value) == "line 1: expected 3 or 4 fields, got 2"


@pytest.mark.parametrize(
    "line, message",
    [
        ("2024-01-03,12.345,food", "bad amount '12.345'"),
        ("2024-02-30,1.00,food", "bad date '2024-02-30'"),
        ("2024-01-01,1.00", "expected 3 or 4 fields, got 2"),
        ("2024-01-01,1.00,food,x,y", "expected 3 or 4 fields, got 5"),
        ("2024-01-01,0.00,food", "amount must not be zero"),
        ("2024-01-01,1.00, ", "missing category"),
        ("2024-01-01,1.00,9lives", "bad category '9lives'"),
        ("2024-01-01,1.00,food stuff", "bad category 'food stuff'"),
        ("2024-01-01,1.00,café", "bad category 'café'"),
    ],
)
def test_line_errors(line, message):
    text = "# comment\n\n" + line + "\n"
    with pytest.raises(LedgerParseError) as info:
        parse_ledger(text)
    assert info.value.line_no == 3
    assert info.value.message == message
    assert str(info.value) == f"line 3: {message}"


def test_category_allows_separators():
    txns = parse_ledger("2024-01-01,-1.00,home:repairs\n2024-01-02,-2.00,a-b_c2\n")
    assert [t.category for t in txns] == ["home:repairs", "a-b_c2"]


def test_lenient_collects_every_error():
    text = "2024-01-01,1.00,food\n2024-01-02,x,food\n\n2024-13-01,1.00,food\n2024-01-04,-2.50,fun\n"
    txns, errors = parse_ledger_lenient(text)
    assert [t.amount.cents for t in txns] == [100, -250]
    assert [e.line_no for e in errors] == [2, 4]
    with pytest.raises(LedgerParseError) as info:
        parse_ledger(text)
    assert info.value.line_no == 2


def test_require_sorted():
    text = "2024-01-02,1.00,a\n2024-01-02,2.00,b\n2024-01-01,3.00,c\n2024-01-03,4.00,d\n"
    assert len(parse_ledger(text)) == 4
    with pytest.raises(LedgerParseError) as info:
        parse_ledger(text, require_sorted=True)
    assert str(info.value) == "line 3: date 2024-01-01 is out of order"
    txns, errors = parse_ledger_lenient(text, require_sorted=True)
    assert [t.category for t in txns] == ["a", "b", "d"]
    assert [e.line_no for e in errors] == [3]


def test_empty_and_comment_only_text():
    assert parse_ledger("") == []
    assert parse_ledger("# nothing\n   \n#more\n") == []


def test_format_transaction():
    assert format_transaction(Transaction(date(2024, 1, 3), Money(120000), "salary")) == "2024-01-03,1200.00,salary"
    assert format_transaction(Transaction(date(2024, 1, 3), Money(-5), "fee", "bank")) == "2024-01-03,-0.05,fee,bank"
    assert format_transaction(Transaction(date(2024, 1, 3), Money(0), "nil")) == "2024-01-03,0.00,nil"
    assert (
        format_transaction(Transaction(date(2024, 1, 5), Money(-4520), "groceries", "Market, weekly"))
        == '2024-01-05,-45.20,groceries,"Market, weekly"'
    )
    assert format_transaction(Transaction(date(2024, 1, 5), Money(7), "x", 'say "hi"')) == '2024-01-05,0.07,x,"say ""hi"""'
    assert format_transaction(Transaction(date(2024, 1, 5), Money(7), "x", " pad")) == '2024-01-05,0.07,x," pad"'


def test_format_round_trips_through_parser():
    original = parse_ledger(SAMPLE) + [Transaction(date(2024, 3, 1), Money(-1), "x", ' "odd", one ')]
    text = "\n".join(format_transaction(t) for t in original)
    assert parse_ledger(text) == original
