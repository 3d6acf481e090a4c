"""Syntax tree for MScript. Every node records its source offset for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    position: int


@dataclass(frozen=True, slots=True)
class Template:
    # strings has exactly one more item than expressions.
    strings: tuple[str, ...]
    expressions: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class FieldRef:
    """this.<object>.<field>, already checked against the declared objects."""

    object_name: str
    field_name: str
    position: int


@dataclass(frozen=True, slots=True)
class Member:
    target: Node
    key: str
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    target: Node
    method: str
    arguments: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Unary:
    operator: str
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Chain:
    """Left-associative operators of one precedence level: a + b - c.

    Kept flat so evaluating a long chain does not recurse once per operator.
    """

    first: Node
    rest: tuple[tuple[str, Node, int], ...]  # (operator, operand, operator position)
    position: int


@dataclass(frozen=True, slots=True)
class Conditional:
    test: Node
    consequent: Node
    alternate: Node
    position: int


Node = Literal | Template | FieldRef | Member | Call | Unary | Chain | Conditional
