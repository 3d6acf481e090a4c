"""MScript: a safe evaluator for the small JavaScript-like expression language in app specs.

Expressions are checked once with `compile_mscript` and then evaluated with
JavaScript semantics against plain JSON-like data, never with eval/exec.
"""

from .errors import MScriptError, MScriptEvaluationError
from .expression import Expression, compile_mscript
from .limits import MAX_EVALUATION_STEPS, MAX_NESTING_DEPTH, MAX_NODE_COUNT, MAX_SOURCE_LENGTH, MAX_STRING_LENGTH
from .values import UNDEFINED, to_string


def to_js_string(value: object) -> str:
    """Format an evaluation result the way JavaScript's String(value) would."""
    return to_string(value, None)


__all__ = [
    "MAX_EVALUATION_STEPS",
    "MAX_NESTING_DEPTH",
    "MAX_NODE_COUNT",
    "MAX_SOURCE_LENGTH",
    "MAX_STRING_LENGTH",
    "UNDEFINED",
    "Expression",
    "MScriptError",
    "MScriptEvaluationError",
    "compile_mscript",
    "to_js_string",
]
