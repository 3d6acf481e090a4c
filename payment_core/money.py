"""Amounts in Stripe's integer minor units, by Stripe's currency rules, with Decimal arithmetic.

Every Stripe currency rule orderpay knows lives here (https://docs.stripe.com/currencies):

- the ISO 4217 codes Stripe charges in (`STRIPE_CURRENCIES`); anything else is refused;
- most currencies have two decimals; some none (`ZERO_DECIMAL`, e.g. JPY); some three
  (`THREE_DECIMAL`, e.g. KWD), whose last digit Stripe requires to be 0;
- ISK is sent with two decimals but must be a whole number of krónur (`WHOLE_UNITS_ONLY`);
- HUF and TWD are charged with two decimals like most (their whole-unit rule is for payouts only);
- at most 99,999,999 minor units per payment (eight digits), IDR up to twelve digits (`MAX_MINOR`).

An amount computed by a spec's MScript is a binary float (1.10 + 2.20 = 3.3000000000000003,
4.35 × 100 = 434.99999999999994). Such a value within float noise of a whole minor unit is
that minor unit; anything finer than the currency allows beyond that noise is refused.
"""
from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

from payment_core.errors import BadInput

# Stripe's presentment currencies (card payments), as ISO 4217 codes.
STRIPE_CURRENCIES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ
    GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT LAK LBP LKR LRD
    LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS TND TOP
    TRY TTD TWD TZS UAH UGX USD UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
""".split())
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
# Sent with two decimals, but charged in whole units: the minor amount must be a multiple of 100.
WHOLE_UNITS_ONLY = frozenset({"ISK"})
MAX_MINOR_AMOUNT = 99_999_999  # Stripe's largest amount for most currencies (eight digits)
MAX_MINOR = {"IDR": 999_999_999_999}  # twelve digits
# How far a float result may be from a whole minor unit and still be that unit: a relative
# 1e-12 covers thousands of rounding steps of binary doubles (one step is about 1.1e-16) and is
# far below any amount a person would type (1e-12 of 99,999,999 minor units is 0.0001 of one).
FLOAT_NOISE = Decimal("1e-12")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def max_minor_amount(currency: str) -> int:
    return MAX_MINOR.get(currency.upper(), MAX_MINOR_AMOUNT)


def normalize_currency(value: object, *, field: str = "currency") -> str:
    """The upper-case ISO 4217 code of a currency Stripe charges in (`usd` → `USD`)."""
    code = value.upper() if isinstance(value, str) and value.isascii() else None
    if code not in STRIPE_CURRENCIES:
        raise BadInput(f"{field}: {value!r} is not an ISO 4217 currency code Stripe charges in", field=field)
    return code  # type: ignore[return-value]


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """A JSON number (or numeric text in a free-form field) as the finite Decimal it reads as
    (0.1 stays 0.1, not 0.1000000000000000055…)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise BadInput(f"{field}: {value!r} is not a number", field=field)
    if isinstance(value, str) and not _NUMBER_TEXT.fullmatch(value):
        # Plain ASCII digits only: no "Infinity", "sNaN", "1_000", " 12", "١٢".
        raise BadInput(f"{field}: {value[:40]!r} is not a finite number", field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{field}: must be a finite number", field=field)
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise BadInput(f"{field}: {value!r} is not a number", field=field) from None
    if not number.is_finite():
        raise BadInput(f"{field}: must be a finite number", field=field)
    return number


def to_minor_units(amount: object, currency: str, unit: Literal["major", "minor"] = "major", *,
                   field: str = "amount", currency_field: str = "currency") -> int:
    """The integer Stripe expects for `amount` of `currency`; refuses what cannot be charged exactly.

    `field` names the order field the amount comes from in every error (a 400 naming it)."""
    code = normalize_currency(currency, field=currency_field)
    result = _minor_units(amount, exponent(code) if unit == "major" else 0, max_minor_amount(code), code, field)
    if code in THREE_DECIMAL and result % 10:
        raise BadInput(f"{field}: Stripe charges {code} in multiples of 0.010", field=field)
    if code in WHOLE_UNITS_ONLY and result % 100:
        raise BadInput(f"{field}: Stripe charges {code} in whole units", field=field)
    return result


def check_amount(amount: object, currency: str | None, unit: Literal["major", "minor"] = "major", *,
                 field: str = "amount", currency_field: str = "currency") -> None:
    """What can be known of an order's amount before it is paid. With its currency: exactly what
    paying would check. Without (an update leaving the currency as it is): what every currency
    requires — a finite number above 0 with at most two decimals (three-decimal currencies need a
    final 0) below the largest maximum."""
    if currency is not None:
        to_minor_units(amount, currency, unit, field=field, currency_field=currency_field)
    else:
        _minor_units(amount, 2 if unit == "major" else 0, max(MAX_MINOR.values()), "", field)


def _minor_units(amount: object, scale: int, limit: int, code: str, field: str) -> int:
    value = to_decimal(amount, field=field)
    shown = f"{value} {code}".rstrip()
    if value <= 0:
        raise BadInput(f"{field}: must be more than 0, got {shown}", field=field)
    if value.adjusted() > 20:  # checked before any arithmetic: 1e999999999 must not reach scaleb
        raise BadInput(f"{field}: {shown} is more than Stripe accepts in one payment", field=field)
    minor = value.scaleb(scale)
    whole = minor.to_integral_value(rounding=ROUND_HALF_EVEN)
    if minor != whole:
        if not isinstance(amount, float) or abs(minor - whole) > FLOAT_NOISE * max(abs(minor), Decimal(1)):
            raise BadInput(f"{field}: {shown} has more decimals than {code or 'any currency'} allows", field=field)
        # A float computed by a script, off by binary noise only: it is that whole minor unit.
    result = int(whole)
    if result <= 0:
        raise BadInput(f"{field}: must be more than 0, got {shown}", field=field)
    if result > limit:
        raise BadInput(f"{field}: {shown} is more than Stripe accepts in one payment", field=field)
    return result


def to_major_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def json_number(value: Decimal) -> int | float:
    """How an amount appears in JSON: an integer when whole, else the shortest float."""
    return int(value) if value == value.to_integral_value() else float(value)


def json_amount(minor: int | None, currency: str | None) -> int | float | None:
    """An amount in minor units as the API and the events write it: major units, a JSON number;
    None without an amount or a currency."""
    if minor is None or not currency:
        return None
    return json_number(to_major_units(int(minor), currency))
