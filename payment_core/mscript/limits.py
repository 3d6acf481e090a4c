"""Resource limits for MScript.

Expressions come from spec files that may be written by people we do not
fully trust, so parsing and evaluation must stay small and bounded.
"""

from __future__ import annotations

from .errors import MScriptEvaluationError

MAX_SOURCE_LENGTH = 2000
MAX_NESTING_DEPTH = 32
MAX_NODE_COUNT = 500
MAX_STRING_LENGTH = 10_000
MAX_EVALUATION_STEPS = 100_000
# Arrays nested inside arrays are stringified recursively; a hostile or
# cyclic context value must not exhaust the Python stack.
MAX_VALUE_NESTING = 64


class StepBudget:
    """Counts evaluation work so no expression/context pair can run unbounded."""

    def __init__(self, limit: int = MAX_EVALUATION_STEPS) -> None:
        self.remaining = limit
        self.limit = limit

    def charge(self, steps: int, position: int | None) -> None:
        self.remaining -= steps
        if self.remaining < 0:
            raise MScriptEvaluationError(
                f"Evaluation stopped after {self.limit} steps, the limit for one expression", position
            )


def check_string(value: str, position: int | None) -> str:
    """Return `value` unchanged, or fail if it is longer than strings may grow."""
    if len(value) > MAX_STRING_LENGTH:
        raise MScriptEvaluationError(
            f"Produced a string of {len(value)} characters, more than the limit of {MAX_STRING_LENGTH}",
            position,
        )
    return value
