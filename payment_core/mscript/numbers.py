"""JavaScript Number semantics on Python int and float.

A JS number is an IEEE double. We keep Python ints while a result is an
exact integer inside the safe range (so amounts in cents stay ints for the
caller) and fall back to float everywhere else, including -0, which an int
cannot represent.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

Number = int | float

MAX_SAFE_INTEGER = 2**53
MAX_FIXED_DIGITS = 100

# JS WhiteSpace and LineTerminator code points; str.strip() uses a different set.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

_DECIMAL_STRING = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_INTEGER_STRING = re.compile(r"[+-]?[0-9]+\Z")
_RADIX_PREFIXES = {"0x": 16, "0o": 8, "0b": 2}
_RADIX_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def normalize_int(value: int) -> Number:
    """Keep an int only while a double could hold it exactly."""
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def parse_decimal_literal(text: str) -> Number:
    """Convert validated decimal digits (from source or a string) to a number."""
    if _INTEGER_STRING.match(text) and len(text) <= 20:
        value = int(text)
        if value == 0 and text.startswith("-"):
            return -0.0
        return normalize_int(value)
    # float() rounds correctly, exactly as the JS literal grammar requires.
    return float(text)


def string_to_number(text: str) -> Number:
    """JS StringToNumber: what Number("...") returns."""
    text = text.strip(JS_WHITESPACE)
    if text == "":
        return 0
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    radix = _RADIX_PREFIXES.get(text[:2].lower())
    if radix is not None:
        digits = text[2:]
        if digits == "" or any(ch not in _RADIX_DIGITS[:radix] for ch in digits.lower()):
            return math.nan
        return normalize_int(int(digits, radix))
    if _DECIMAL_STRING.match(text):
        return parse_decimal_literal(text)
    return math.nan


def is_negative_zero(value: Number) -> bool:
    return isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0


def number_to_string(value: Number) -> str:
    """JS Number::toString(10), e.g. 1e21 -> "1e+21", 0.1 + 0.2 -> "0.30000000000000004"."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    if value < 0:
        return "-" + number_to_string(-value)
    if math.isinf(value):
        return "Infinity"
    # repr() gives the shortest round-tripping digits, the same digits JS picks.
    mantissa, _, exponent_text = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    leading_zeros = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.lstrip("0").rstrip("0")
    n = len(whole) + (int(exponent_text) if exponent_text else 0) - leading_zeros
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    exponent = n - 1
    sign = "+" if exponent >= 0 else "-"
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(exponent)}"


def number_to_radix_string(value: Number, radix: int) -> str | None:
    """Number.prototype.toString(radix) for integers; None when unsupported.

    Fractions in a non-decimal radix follow an engine-specific digit
    algorithm, so we do not pretend to reproduce it.
    """
    if radix == 10:
        return number_to_string(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value != int(value):
        return None
    magnitude = abs(int(value))
    digits = ""
    while True:
        magnitude, digit = divmod(magnitude, radix)
        digits = _RADIX_DIGITS[digit] + digits
        if magnitude == 0:
            break
    return "-" + digits if value < 0 else digits


def to_fixed(value: Number, fraction_digits: int) -> str:
    """Number.prototype.toFixed after the argument has been validated.

    Uses the exact binary value of the double, which is why
    (1.005).toFixed(2) is "1.00" in JS and here.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return number_to_string(value)
    if value < 0:
        return "-" + to_fixed(-value, fraction_digits)
    if value == 0:
        # -0 prints without a sign, and Decimal(-0.0) would keep it.
        value = 0
    if value >= 1e21:
        return number_to_string(value)
    with localcontext() as context:
        context.prec = 200
        # Ties go up: "if there are two such n, pick the larger n".
        rounded = Decimal(value).quantize(Decimal(1).scaleb(-fraction_digits), rounding=ROUND_HALF_UP)
        return format(rounded, "f")


def negate(value: Number) -> Number:
    if isinstance(value, int):
        return -0.0 if value == 0 else -value
    return -value


def add(left: Number, right: Number) -> Number:
    if isinstance(left, int) and isinstance(right, int):
        return normalize_int(left + right)
    return float(left) + float(right)


def subtract(left: Number, right: Number) -> Number:
    if isinstance(left, int) and isinstance(right, int):
        return normalize_int(left - right)
    return float(left) - float(right)


def multiply(left: Number, right: Number) -> Number:
    if isinstance(left, int) and isinstance(right, int):
        product = left * right
        if product == 0 and (left < 0) != (right < 0):
            return -0.0
        return normalize_int(product)
    return float(left) * float(right)


def divide(left: Number, right: Number) -> Number:
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        same_sign = (math.copysign(1.0, left) > 0) == (math.copysign(1.0, right) > 0)
        return math.inf if same_sign else -math.inf
    if isinstance(left, int) and isinstance(right, int):
        if left % right == 0:
            quotient = left // right
            if quotient == 0 and right < 0:
                return -0.0
            return normalize_int(quotient)
        # int / int true division in Python is correctly rounded, as in IEEE.
        return left / right
    return float(left) / float(right)


def remainder(left: Number, right: Number) -> Number:
    """JS %: the result takes the sign of the dividend."""
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            return math.nan
        result = abs(left) % abs(right)
        if left < 0:
            return -0.0 if result == 0 else -result
        return result
    left, right = float(left), float(right)
    if math.isnan(left) or math.isnan(right) or math.isinf(left) or right == 0:
        return math.nan
    if math.isinf(right):
        return left
    return math.fmod(left, right)


def to_integer_or_infinity(value: Number) -> Number:
    """JS ToIntegerOrInfinity on an already-converted number."""
    if isinstance(value, int):
        return value
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return value
    return int(value)
