"""JavaScript value model: undefined, type conversions, equality, ordering.

Values are plain Python data: str, int/float (JS number), bool, None
(null), UNDEFINED, dict (object) and list (array). Everything here reads
them with isinstance checks and dict/list indexing only, never getattr,
so a context value cannot lead evaluation into Python internals.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from typing import Any, Literal

from . import numbers
from .errors import MScriptEvaluationError
from .limits import MAX_STRING_LENGTH, MAX_VALUE_NESTING, check_string

JSType = Literal["undefined", "null", "boolean", "number", "string", "array", "object"]

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Undefined:
    """The JS `undefined` value, distinct from None (JS null). Use the UNDEFINED instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Pickling and copying resolve to the module-level instance, keeping `is` checks valid.
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


def type_of(value: Any) -> JSType:
    """Classify a value; bool is checked before int because bool subclasses int."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def from_context(value: Any, position: int | None) -> Any:
    """Admit a value read from the caller's context, rejecting non-JSON types."""
    if value is None or value is UNDEFINED or isinstance(value, (bool, str, float, list, tuple, Mapping)):
        return value
    if isinstance(value, int):
        return numbers.normalize_int(value)
    raise MScriptEvaluationError(
        f"Context value of Python type {type(value).__name__!r} is not JSON-like "
        "(use str, int, float, bool, None, dict or list)",
        position,
    )


def to_units(text: str) -> str:
    """Re-express a string as UTF-16 code units, one Python character each.

    JS indexes, measures and compares strings in UTF-16 code units, so
    characters outside the BMP must count as two.
    """
    if not text or max(text) <= "\uffff":
        return text
    encoded = text.encode("utf-16-le", "surrogatepass")
    return "".join(map(chr, struct.unpack(f"<{len(encoded) // 2}H", encoded)))


def from_units(units: str) -> str:
    """Join surrogate pairs back into real characters after slicing or concatenating."""
    if not _SURROGATE.search(units):
        return units
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def to_primitive(value: Any, position: int | None) -> Any:
    """JS ToPrimitive for our value set: arrays join, plain objects are "[object Object]"."""
    if isinstance(value, (list, tuple)):
        return to_string(value, position)
    if isinstance(value, Mapping):
        if "toString" in value:
            # An own, non-callable toString makes JS give up converting.
            raise MScriptEvaluationError("Cannot convert object to primitive value", position)
        return "[object Object]"
    return value


def to_string(value: Any, position: int | None, _depth: int = 0) -> str:
    """JS ToString."""
    if isinstance(value, str):
        return value
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return numbers.number_to_string(value)
    if isinstance(value, (list, tuple)):
        return _join(value, position, _depth)
    primitive: str = to_primitive(value, position)  # a plain object becomes "[object Object]"
    return primitive


def _join(items: list[Any] | tuple[Any, ...], position: int | None, depth: int) -> str:
    """Array.prototype.join(",") with bounded size and nesting."""
    if depth >= MAX_VALUE_NESTING:
        raise MScriptEvaluationError(
            f"Cannot convert an array nested more than {MAX_VALUE_NESTING} levels deep to a string", position
        )
    parts: list[str] = []
    length = 0
    for item in items:
        item = from_context(item, position)
        part = "" if item is None or item is UNDEFINED else to_string(item, position, depth + 1)
        parts.append(part)
        length += len(part) + 1
        # Stop early so a huge context array cannot build a huge string first.
        if length > MAX_STRING_LENGTH + 1:
            break
    return check_string(from_units(",".join(parts)), position)


def to_number(value: Any, position: int | None) -> numbers.Number:
    """JS ToNumber."""
    if value is UNDEFINED:
        return math.nan
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return numbers.string_to_number(value)
    return to_number(to_primitive(value, position), position)


def truthy(value: Any) -> bool:
    """JS ToBoolean."""
    if value is UNDEFINED or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def strict_equals(left: Any, right: Any) -> bool:
    """JS ===: no coercion; objects and arrays compare by identity."""
    left_type = type_of(left)
    if left_type != type_of(right):
        return False
    if left_type in ("undefined", "null"):
        return True
    if left_type in ("array", "object"):
        return left is right
    # Python == on numbers already gives NaN != NaN and 0 == -0.
    return bool(left == right)


def loose_equals(left: Any, right: Any, position: int | None) -> bool:
    """JS == (IsLooselyEqual), applied step by step until the types line up."""
    while True:
        left_type, right_type = type_of(left), type_of(right)
        if left_type == right_type:
            return strict_equals(left, right)
        if {left_type, right_type} <= {"undefined", "null"}:
            return True
        if left_type == "number" and right_type == "string":
            return bool(left == numbers.string_to_number(right))
        if left_type == "string" and right_type == "number":
            return bool(numbers.string_to_number(left) == right)
        if left_type == "boolean":
            left = to_number(left, position)
        elif right_type == "boolean":
            right = to_number(right, position)
        elif left_type in ("string", "number") and right_type in ("array", "object"):
            right = to_primitive(right, position)
        elif left_type in ("array", "object") and right_type in ("string", "number"):
            left = to_primitive(left, position)
        else:
            return False


def compare(operator: str, left: Any, right: Any, position: int | None) -> bool:
    """JS < > <= >=; any comparison involving NaN is false."""
    left = to_primitive(left, position)
    right = to_primitive(right, position)
    if isinstance(left, str) and isinstance(right, str):
        left_key: Any = to_units(left)
        right_key: Any = to_units(right)
    else:
        left_key = to_number(left, position)
        right_key = to_number(right, position)
        if math.isnan(left_key) or math.isnan(right_key):
            return False
    if operator == "<":
        return bool(left_key < right_key)
    if operator == ">":
        return bool(left_key > right_key)
    if operator == "<=":
        return bool(left_key <= right_key)
    return bool(left_key >= right_key)
