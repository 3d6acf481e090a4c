"""Amounts in Stripe's integer minor units, by Stripe's currency rules, with Decimal arithmetic.

https://docs.stripe.com/currencies: most currencies have two decimals; some have none
(JPY), some three (KWD, whose last digit Stripe requires to be 0); ISK is sent with two
decimals but must be a whole number of krónur.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Literal

from payment_core.errors import BadInput

ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
# Sent with two decimals, but charged in whole units: the minor amount must be a multiple of 100.
WHOLE_UNITS_ONLY = frozenset({"ISK"})
MAX_MINOR_AMOUNT = 99_999_999  # Stripe's largest amount for most currencies


def exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def normalize_currency(value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise BadInput(f"currency: {value!r} is not a three-letter ISO currency code", field="currency")
    return value.upper()


def to_decimal(value: object) -> Decimal:
    """A JSON number as the Decimal it reads as (0.1 stays 0.1, not 0.1000000000000000055…)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise BadInput(f"amount: {value!r} is not a number", field="amount")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput("amount: must be a finite number", field="amount")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise BadInput(f"amount: {value!r} is not a number", field="amount") from None


def to_minor_units(amount: object, currency: str, unit: Literal["major", "minor"] = "major") -> int:
    """The integer Stripe expects for `amount` of `currency`; refuses what cannot be charged exactly."""
    code = normalize_currency(currency)
    value = to_decimal(amount)
    minor = value if unit == "minor" else value.scaleb(exponent(code))
    if minor != minor.to_integral_value():
        raise BadInput(f"amount: {value} {code} has more decimals than {code} allows", field="amount")
    result = int(minor)
    if result <= 0:
        raise BadInput(f"amount: must be positive, got {value} {code}", field="amount")
    if code in THREE_DECIMAL and result % 10:
        raise BadInput(f"amount: Stripe charges {code} in multiples of 0.010", field="amount")
    if code in WHOLE_UNITS_ONLY and result % 100:
        raise BadInput(f"amount: Stripe charges {code} in whole units", field="amount")
    if result > MAX_MINOR_AMOUNT:
        raise BadInput(f"amount: {value} {code} is more than Stripe accepts in one payment", field="amount")
    return result


def to_major_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def json_number(value: Decimal) -> int | float:
    """How an amount appears in JSON: an integer when whole, else the shortest float."""
    return int(value) if value == value.to_integral_value() else float(value)
