"""The compiled-expression object and the compile entry point."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from . import nodes
from .errors import MScriptError, MScriptEvaluationError
from .evaluator import Evaluator
from .lexer import tokenize
from .limits import MAX_SOURCE_LENGTH, StepBudget
from .parser import Parser


class Expression:
    """A checked MScript expression, safe to evaluate many times against different data."""

    __slots__ = ("_references", "_source", "_tree")

    def __init__(self, source: str, tree: nodes.Node, references: frozenset[tuple[str, str]]) -> None:
        self._source = source
        self._tree = tree
        self._references = references

    @property
    def source(self) -> str:
        return self._source

    @property
    def references(self) -> frozenset[tuple[str, str]]:
        """Every (object, field) read via this.<object>.<field>, for dependency tracking."""
        return self._references

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against `context` (object name -> JSON-like dict) with JS semantics."""
        if not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping of object names to records, not {type(context).__name__}")
        try:
            return Evaluator(context, StepBudget()).evaluate(self._tree)
        except MScriptEvaluationError as error:
            if error.source is None:
                error.source = self._source
            raise

    def __repr__(self) -> str:
        return f"Expression({self._source!r})"


def compile_mscript(source: str, *, objects: Mapping[str, Collection[str]]) -> Expression:
    """Parse and check `source` once, at load time, so bad specs fail early.

    `objects` maps each name usable as this.<name> to its declared fields.
    """
    if not isinstance(source, str):
        raise MScriptError(f"Expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise MScriptError(f"Expression is {len(source)} characters long, more than the limit of {MAX_SOURCE_LENGTH}")
    for name, fields in objects.items():
        if isinstance(fields, str):
            # frozenset("id") would silently declare the fields "i" and "d".
            raise TypeError(f"objects[{name!r}] must be a collection of field names, not a string")
    declared = {name: frozenset(fields) for name, fields in objects.items()}
    parser = Parser(source, tokenize(source), declared)
    tree = parser.parse()
    return Expression(source, tree, frozenset(parser.references))
