"""Which names an expression may use.

MScript never resolves names through Python attributes, but spec authors
(or attackers copying payloads) reach for JS and Python escape hatches;
rejecting them at load time keeps such specs from ever being accepted.
"""

from __future__ import annotations

# Keywords that stand for literal values.
LITERAL_KEYWORDS = {"true": True, "false": False, "null": None}
UNDEFINED_KEYWORD = "undefined"
THIS_KEYWORD = "this"

STRING_METHODS = frozenset(
    {"toUpperCase", "toLowerCase", "trim", "includes", "startsWith", "endsWith", "slice", "padStart", "toString"}
)
NUMBER_METHODS = frozenset({"toFixed", "toString"})
ALLOWED_METHODS = STRING_METHODS | NUMBER_METHODS

# JS reflection and code-execution hooks. Names starting with "__" (Python
# dunders, __proto__, __defineGetter__ ...) are refused separately.
FORBIDDEN_NAMES = frozenset(
    {
        "constructor",
        "prototype",
        "eval",
        "Function",
        "caller",
        "callee",
        "arguments",
        "globalThis",
        "apply",
        "bind",
        "call",
    }
)


def forbidden_reason(name: str) -> str | None:
    """Explain why `name` may not be used as a member or key, or None if it may."""
    if name.startswith("__"):
        return f"Name {name!r} is not allowed because names starting with '__' are reserved"
    if name in FORBIDDEN_NAMES:
        return f"Name {name!r} is not allowed because it can reach JavaScript internals"
    return None
