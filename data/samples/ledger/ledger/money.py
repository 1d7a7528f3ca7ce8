"""Integer-cent money arithmetic.

All amounts are stored as a whole number of cents so that addition and
subtraction are exact.  Anything that needs a fraction of a cent (scaling by a
rate, allocating by ratios) goes through :class:`fractions.Fraction` and is
rounded explicitly.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterable, List, Sequence, Union

_DIGITS = frozenset("0123456789")

Number = Union[int, float, Fraction]


class MoneyError(ValueError):
    """Raised when an amount cannot be parsed or an operation is invalid."""


def round_half_even(value: Number) -> int:
    """Round ``value`` to the nearest integer, ties going to the even neighbour.

    Floats are converted exactly first, so ``2.5`` is a true tie.
    """
    value = Fraction(value)
    floor = value.numerator // value.denominator
    rest = value - floor
    half = Fraction(1, 2)
    if rest > half:
        return floor + 1
    if rest < half:
        return floor
    if floor % 2 == 0:
        return floor
    return floor + 1


def round_half_up(value: Number) -> int:
    """Round ``value`` to the nearest integer, ties going away from zero."""
    value = Fraction(value)
    magnitude = abs(value)
    floor = magnitude.numerator // magnitude.denominator
    if magnitude - floor >= Fraction(1, 2):
        floor += 1
    return -floor if value < 0 else floor


def _all_digits(text: str) -> bool:
    return bool(text) and all(ch in _DIGITS for ch in text)


def parse_amount(text: str) -> int:
    """Parse a decimal amount such as ``"-1,234.5"`` into cents."""
    s = text.strip()
    if not s:
        raise MoneyError("empty amount")
    negative = False
    if s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if dot and not frac:
        raise MoneyError(f"missing digits after decimal point in {text!r}")
    if len(frac) > 2:
        raise MoneyError(f"too many decimal places in {text!r}")
    if frac and not _all_digits(frac):
        raise MoneyError(f"invalid fraction in {text!r}")
    if "," in whole:
        groups = whole.split(",")
        if not 1 <= len(groups[0]) <= 3:
            raise MoneyError(f"bad digit grouping in {text!r}")
        for group in groups[1:]:
            if len(group) != 3:
                raise MoneyError(f"bad digit grouping in {text!r}")
        whole = "".join(groups)
    if not _all_digits(whole):
        raise MoneyError(f"invalid amount {text!r}")
    cents = int(whole) * 100 + int(frac.ljust(2, "0") or "0")
    return -cents if negative else cents


def format_cents(cents: int, separator: str = ",") -> str:
    """Format cents as ``-1,234.56`` using ``separator`` between thousands."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    digits = str(whole)
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return f"{sign}{separator.join(groups)}.{frac:02d}"


def allocate_cents(total: int, ratios: Sequence[int]) -> List[int]:
    """Split ``total`` cents proportionally to ``ratios``.

    Every share is first rounded towards zero; the cents left over go one at a
    time to the shares with the largest remainders (earlier shares win ties).
    The result always sums exactly to ``total``.
    """
    if not ratios:
        raise MoneyError("at least one ratio is required")
    for ratio in ratios:
        if ratio < 0:
            raise MoneyError("ratios must not be negative")
    weight = sum(ratios)
    if weight == 0:
        raise MoneyError("ratios must not all be zero")
    sign = -1 if total < 0 else 1
    amount = abs(total)
    shares = []
    remainders = []
    for ratio in ratios:
        share, remainder = divmod(amount * ratio, weight)
        shares.append(share)
        remainders.append(remainder)
    left = amount - sum(shares)
    order = sorted(range(len(ratios)), key=lambda i: (-remainders[i], i))
    for index in order[:left]:
        shares[index] += 1
    return [sign * share for share in shares]


class Money:
    """An immutable amount of money held as integer cents."""

    __slots__ = ("_cents",)

    def __init__(self, cents: int = 0):
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise TypeError("Money needs an integer number of cents")
        self._cents = cents

    @property
    def cents(self) -> int:
        return self._cents

    @classmethod
    def parse(cls, text: str) -> "Money":
        return cls(parse_amount(text))

    @classmethod
    def from_fraction(cls, value: Number, rounding: str = "half_even") -> "Money":
        """Build from a (possibly fractional) number of cents."""
        if rounding == "half_even":
            return cls(round_half_even(value))
        if rounding == "half_up":
            return cls(round_half_up(value))
        raise MoneyError(f"unknown rounding mode {rounding!r}")

    # arithmetic -----------------------------------------------------------
    def __add__(self, other: "Money") -> "Money":
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self._cents + other._cents)

    def __radd__(self, other):
        # lets ``sum()`` start from the integer 0
        if other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: "Money") -> "Money":
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self._cents - other._cents)

    def __neg__(self) -> "Money":
        return Money(-self._cents)

    def __abs__(self) -> "Money":
        return Money(abs(self._cents))

    def __mul__(self, factor: int) -> "Money":
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Money(self._cents * factor)

    __rmul__ = __mul__

    def scale(self, factor: Number, rounding: str = "half_even") -> "Money":
        """Multiply by an exact (possibly fractional) factor and round to cents."""
        return Money.from_fraction(Fraction(self._cents) * Fraction(factor), rounding)

    def percent_bp(self, basis_points: int, rounding: str = "half_even") -> "Money":
        """Return ``basis_points`` / 10000 of this amount (150 bp = 1.5 %)."""
        return self.scale(Fraction(basis_points, 10000), rounding)

    def allocate(self, ratios: Sequence[int]) -> List["Money"]:
        return [Money(c) for c in allocate_cents(self._cents, ratios)]

    def split(self, parts: int) -> List["Money"]:
        if parts < 1:
            raise MoneyError("cannot split into fewer than one part")
        return self.allocate([1] * parts)

    # comparison -------------------------------------------------------------
    def __eq__(self, other) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._cents == other._cents

    def __hash__(self) -> int:
        return hash(("Money", self._cents))

    def __lt__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._cents < other._cents

    def __le__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._cents <= other._cents

    def __gt__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._cents > other._cents

    def __ge__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._cents >= other._cents

    def __bool__(self) -> bool:
        return self._cents != 0

    def is_negative(self) -> bool:
        return self._cents < 0

    # display ----------------------------------------------------------------
    def __str__(self) -> str:
        return format_cents(self._cents)

    def __repr__(self) -> str:
        return f"<Money {format_cents(self._cents, separator='')}>"


def sum_money(amounts: Iterable[Money]) -> Money:
    total = 0
    for amount in amounts:
        total += amount.cents
    return Money(total)
