"""Property reads and allow-listed method calls on JS values.

Each value type has an explicit, hand-written set of members. Nothing is
looked up with getattr, so no Python attribute is ever reachable.
"""

from __future__ import annotations

import math
from typing import Any

from . import numbers
from .errors import MScriptEvaluationError
from .limits import MAX_STRING_LENGTH, StepBudget, check_string
from .names import NUMBER_METHODS, STRING_METHODS
from .values import UNDEFINED, from_context, from_units, strict_equals, to_number, to_string, to_units, type_of

_MAX_SAFE_LENGTH = 2**53 - 1
_METHODS_BY_TYPE = {
    "string": STRING_METHODS,
    "number": NUMBER_METHODS,
    "boolean": frozenset({"toString"}),
    "array": frozenset({"toString", "includes", "slice"}),
    "object": frozenset({"toString"}),
}
_ARTICLES = {
    "string": "a string",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
}


def _array_index(key: str, length: int) -> int | None:
    """The list index a property key names, if it is a canonical array index in range."""
    if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
        return None
    index = int(key)
    return index if index < length else None


def _null_access(value: Any, key: str, position: int | None) -> MScriptEvaluationError:
    return MScriptEvaluationError(f"Cannot read property {key!r} of {type_of(value)}", position)


def get_property(value: Any, key: str, position: int | None) -> Any:
    """JS `value[key]` for our value types; missing properties are undefined."""
    kind = type_of(value)
    if kind in ("undefined", "null"):
        raise _null_access(value, key, position)
    if kind == "object" and key in value:
        return from_context(value[key], position)
    if kind == "array":
        if key == "length":
            return len(value)
        index = _array_index(key, len(value))
        if index is not None:
            return from_context(value[index], position)
    elif kind == "string":
        units = to_units(value)
        if key == "length":
            return len(units)
        index = _array_index(key, len(units))
        if index is not None:
            return units[index]
    if key in _METHODS_BY_TYPE[kind]:
        # JS would hand back a function object, which MScript cannot represent.
        raise MScriptEvaluationError(f"Method {key!r} must be called, as in .{key}()", position)
    return UNDEFINED


def call_method(receiver: Any, method: str, arguments: list[Any], position: int | None, budget: StepBudget) -> Any:
    """JS `receiver.method(...arguments)` for the allow-listed methods."""
    kind = type_of(receiver)
    if kind in ("undefined", "null"):
        raise _null_access(receiver, method, position)
    if kind == "string":
        result = _string_method(receiver, method, arguments, position)
    elif kind == "number":
        result = _number_method(receiver, method, arguments, position)
    elif kind == "boolean" and method == "toString":
        result = "true" if receiver else "false"
    elif kind == "array":
        result = _array_method(receiver, method, arguments, position, budget)
    elif kind == "object" and method == "toString" and method not in receiver:
        result = "[object Object]"
    else:
        result = None
    if result is None:
        raise MScriptEvaluationError(f"{method}() cannot be called on {_ARTICLES[kind]} value", position)
    return result


def _argument(arguments: list[Any], index: int) -> Any:
    return arguments[index] if index < len(arguments) else UNDEFINED


def _integer_argument(arguments: list[Any], index: int, position: int | None) -> numbers.Number:
    return numbers.to_integer_or_infinity(to_number(_argument(arguments, index), position))


def _relative_index(arguments: list[Any], index: int, length: int, position: int | None) -> int:
    """Resolve a slice() bound: negative counts from the end, then clamp."""
    value = _argument(arguments, index)
    if value is UNDEFINED:
        return 0 if index == 0 else length
    relative = numbers.to_integer_or_infinity(to_number(value, position))
    if relative < 0:
        return int(max(length + relative, 0))
    return int(min(relative, length))


def _clamped_position(arguments: list[Any], index: int, length: int, default: int, position: int | None) -> int:
    if _argument(arguments, index) is UNDEFINED:
        return default
    return int(min(max(_integer_argument(arguments, index, position), 0), length))


def _string_method(text: str, method: str, arguments: list[Any], position: int | None) -> Any:
    if method == "toString":
        return text
    if method == "toUpperCase":
        return check_string(text.upper(), position)
    if method == "toLowerCase":
        return check_string(text.lower(), position)
    if method == "trim":
        return text.strip(numbers.JS_WHITESPACE)
    if method == "slice":
        units = to_units(text)
        start = _relative_index(arguments, 0, len(units), position)
        end = _relative_index(arguments, 1, len(units), position)
        return from_units(units[start:end]) if start < end else ""
    if method == "padStart":
        return _pad_start(text, arguments, position)
    if method in ("includes", "startsWith", "endsWith"):
        units = to_units(text)
        search = to_units(to_string(_argument(arguments, 0), position))
        if method == "includes":
            start = _clamped_position(arguments, 1, len(units), 0, position)
            return units.find(search, start) != -1
        if method == "startsWith":
            start = _clamped_position(arguments, 1, len(units), 0, position)
            return units.startswith(search, start)
        end = _clamped_position(arguments, 1, len(units), len(units), position)
        start = end - len(search)
        return start >= 0 and units[start:end] == search
    return None


def _pad_start(text: str, arguments: list[Any], position: int | None) -> str:
    units = to_units(text)
    target = min(max(_integer_argument(arguments, 0, position), 0), _MAX_SAFE_LENGTH)
    if target <= len(units):
        return text
    filler_argument = _argument(arguments, 1)
    filler = " " if filler_argument is UNDEFINED else to_units(to_string(filler_argument, position))
    if filler == "":
        return text
    if target > MAX_STRING_LENGTH:
        # Refuse before building the string, not after.
        raise MScriptEvaluationError(
            f"padStart() would produce {int(target)} characters, more than the limit of {MAX_STRING_LENGTH}", position
        )
    missing = int(target) - len(units)
    padding = (filler * (missing // len(filler) + 1))[:missing]
    return from_units(padding + units)


def _number_method(value: numbers.Number, method: str, arguments: list[Any], position: int | None) -> Any:
    if method == "toFixed":
        digits = _integer_argument(arguments, 0, position)
        if not (0 <= digits <= numbers.MAX_FIXED_DIGITS):
            raise MScriptEvaluationError(f"toFixed() digits must be between 0 and {numbers.MAX_FIXED_DIGITS}", position)
        return numbers.to_fixed(value, int(digits))
    if method == "toString":
        if _argument(arguments, 0) is UNDEFINED:
            return numbers.number_to_string(value)
        radix = _integer_argument(arguments, 0, position)
        if not (2 <= radix <= 36):
            raise MScriptEvaluationError("toString() radix must be between 2 and 36", position)
        text = numbers.number_to_radix_string(value, int(radix))
        if text is None:
            raise MScriptEvaluationError("toString() with a radix other than 10 needs an integer", position)
        return text
    return None


def _same_value_zero(left: Any, right: Any) -> bool:
    if type_of(left) == "number" and type_of(right) == "number" and math.isnan(left) and math.isnan(right):
        return True
    return strict_equals(left, right)


def _array_method(items: list[Any], method: str, arguments: list[Any], position: int | None, budget: StepBudget) -> Any:
    if method == "toString":
        budget.charge(len(items), position)
        return to_string(items, position)
    if method == "includes":
        start = _integer_argument(arguments, 1, position)
        if start == math.inf:
            return False
        if start < 0:
            start = max(len(items) + start, 0)
        needle = _argument(arguments, 0)
        candidates = items[int(start) :]
        budget.charge(len(candidates), position)
        return any(_same_value_zero(from_context(item, position), needle) for item in candidates)
    if method == "slice":
        start = _relative_index(arguments, 0, len(items), position)
        end = _relative_index(arguments, 1, len(items), position)
        budget.charge(max(end - start, 0), position)
        return list(items[start:end])
    return None
