"""Tree-walking evaluator with JavaScript semantics.

The tree was fully checked at load time, so evaluation only has to follow
JS rules and stay within the step and string-size budgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import nodes, numbers
from .errors import MScriptEvaluationError
from .limits import MAX_STRING_LENGTH, StepBudget
from .members import call_method, get_property
from .values import (
    compare,
    from_context,
    from_units,
    loose_equals,
    strict_equals,
    to_number,
    to_primitive,
    to_string,
    truthy,
    type_of,
)

_ARITHMETIC = {
    "-": numbers.subtract,
    "*": numbers.multiply,
    "/": numbers.divide,
    "%": numbers.remainder,
}


def _concatenate(left: str, right: str, position: int) -> str:
    if len(left) + len(right) > MAX_STRING_LENGTH:
        raise MScriptEvaluationError(
            f"Produced a string of {len(left) + len(right)} characters, more than the limit of {MAX_STRING_LENGTH}",
            position,
        )
    # Only a split surrogate pair at the seam needs re-joining.
    if left and right and "\ud800" <= left[-1] <= "\udbff":
        return from_units(left + right)
    return left + right


def binary_operation(operator: str, left: Any, right: Any, position: int) -> Any:
    """Apply a non-short-circuit binary operator with JS coercions."""
    if operator == "+":
        left, right = to_primitive(left, position), to_primitive(right, position)
        if isinstance(left, str) or isinstance(right, str):
            return _concatenate(to_string(left, position), to_string(right, position), position)
        return numbers.add(to_number(left, position), to_number(right, position))
    if operator in _ARITHMETIC:
        return _ARITHMETIC[operator](to_number(left, position), to_number(right, position))
    if operator == "===":
        return strict_equals(left, right)
    if operator == "!==":
        return not strict_equals(left, right)
    if operator == "==":
        return loose_equals(left, right, position)
    if operator == "!=":
        return not loose_equals(left, right, position)
    return compare(operator, left, right, position)


class Evaluator:
    """Evaluates one checked tree against one context."""

    def __init__(self, context: Mapping[str, Any], budget: StepBudget) -> None:
        self.context = context
        self.budget = budget

    def evaluate(self, node: nodes.Node) -> Any:
        self.budget.charge(1, node.position)
        match node:
            case nodes.Literal():
                return node.value
            case nodes.FieldRef():
                return self.read_field(node)
            case nodes.Member():
                return get_property(self.evaluate(node.target), node.key, node.position)
            case nodes.Call():
                return self.call(node)
            case nodes.Template():
                return self.template(node)
            case nodes.Unary():
                return self.unary(node)
            case nodes.Chain():
                return self.chain(node)
            case nodes.Conditional():
                if truthy(self.evaluate(node.test)):
                    return self.evaluate(node.consequent)
                return self.evaluate(node.alternate)
        raise AssertionError(f"unknown node {node!r}")

    def read_field(self, node: nodes.FieldRef) -> Any:
        if node.object_name not in self.context:
            raise MScriptEvaluationError(
                f"Object {node.object_name!r} is missing from the evaluation context", node.position
            )
        record = from_context(self.context[node.object_name], node.position)
        return get_property(record, node.field_name, node.position)

    def call(self, node: nodes.Call) -> Any:
        receiver = self.evaluate(node.target)
        if type_of(receiver) in ("undefined", "null"):
            # JS fails on the lookup, before evaluating any argument.
            return call_method(receiver, node.method, [], node.position, self.budget)
        arguments = [self.evaluate(argument) for argument in node.arguments]
        return call_method(receiver, node.method, arguments, node.position, self.budget)

    def template(self, node: nodes.Template) -> str:
        text = node.strings[0]
        for expression, tail in zip(node.expressions, node.strings[1:]):
            value = to_string(self.evaluate(expression), expression.position)
            text = _concatenate(text, value, node.position)
            text = _concatenate(text, tail, node.position)
        return text

    def unary(self, node: nodes.Unary) -> Any:
        value = self.evaluate(node.operand)
        if node.operator == "!":
            return not truthy(value)
        number = to_number(value, node.position)
        return numbers.negate(number) if node.operator == "-" else number

    def chain(self, node: nodes.Chain) -> Any:
        result = self.evaluate(node.first)
        for operator, operand, position in node.rest:
            # && and || return an operand, not a boolean, and skip the rest.
            if operator == "&&":
                if not truthy(result):
                    return result
                result = self.evaluate(operand)
            elif operator == "||":
                if truthy(result):
                    return result
                result = self.evaluate(operand)
            else:
                result = binary_operation(operator, result, self.evaluate(operand), position)
        return result
