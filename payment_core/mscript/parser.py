"""Recursive-descent parser for MScript with load-time checks.

Everything that can be known without data is checked here: syntax, which
objects and fields are read, hostile names, allowed methods and size limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import nodes
from .errors import MScriptError
from .lexer import Token
from .limits import MAX_NESTING_DEPTH, MAX_NODE_COUNT
from .names import ALLOWED_METHODS, LITERAL_KEYWORDS, THIS_KEYWORD, UNDEFINED_KEYWORD, forbidden_reason
from .numbers import number_to_string
from .values import UNDEFINED

# Binary operators from loosest to tightest binding, as in JS.
_PRECEDENCE_LEVELS = (
    ("||",),
    ("&&",),
    ("===", "!==", "==", "!="),
    ("<", ">", "<=", ">="),
    ("+", "-"),
    ("*", "/", "%"),
)
_PREFIX_OPERATORS = ("!", "-", "+")

_UNSUPPORTED_PUNCTUATORS = {
    "=": "Assignment with '=' is not allowed (use '===' to compare)",
    "=>": "Arrow functions are not allowed",
    ";": "Only a single expression is allowed, so ';' is not allowed",
    ",": "Comma-separated expressions are not allowed",
    "??": "The '??' operator is not supported (use '||' or a ternary)",
    "?.": "Optional chaining '?.' is not supported",
    "**": "The '**' operator is not supported",
    "++": "Increment and decrement operators are not allowed",
    "--": "Increment and decrement operators are not allowed",
    "...": "Spread syntax '...' is not allowed",
    "&": "Bitwise operators are not supported",
    "|": "Bitwise operators are not supported",
    "^": "Bitwise operators are not supported",
    "~": "Bitwise operators are not supported",
    "<<": "Bitwise operators are not supported",
    ">>": "Bitwise operators are not supported",
    "{": "Object literals and blocks are not allowed",
    "[": "Array literals are not allowed",
    "/": "Regular expression literals are not allowed",
}
_UNSUPPORTED_WORDS = frozenset(
    {
        "new", "function", "typeof", "void", "delete", "in", "instanceof", "var", "let", "const", "return",
        "class", "import", "export", "yield", "await", "async", "super", "if", "else", "for", "while", "do",
        "switch", "case", "throw", "try", "catch", "with", "debugger", "NaN", "Infinity",
    }
)  # fmt: skip
_MAX_LISTED_NAMES = 20


def _describe(token: Token) -> str:
    if token.kind == "eof":
        return "the end of the expression"
    if token.kind == "punct":
        return repr(token.value)
    if token.kind == "name":
        return f"name {token.value!r}"
    if token.kind == "number":
        return f"number {number_to_string(token.value)}"
    if token.kind == "string":
        return "a string literal"
    return "a template literal"


def _listing(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:_MAX_LISTED_NAMES])
    if len(ordered) > _MAX_LISTED_NAMES:
        shown += f", ... ({len(ordered)} in all)"
    return shown or "(none)"


class Parser:
    """Parses one expression; use `parse()` once per instance."""

    def __init__(self, source: str, tokens: list[Token], objects: Mapping[str, frozenset[str]]) -> None:
        self.source = source
        self.tokens = tokens
        self.objects = objects
        self.index = 0
        self.depth = 0
        self.node_count = 0
        self.references: set[tuple[str, str]] = set()

    # -- helpers ---------------------------------------------------------

    def error(self, message: str, position: int | None) -> MScriptError:
        return MScriptError(message, position, self.source)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def at(self, punctuator: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "punct" and token.value == punctuator

    def unexpected(self, token: Token, expected: str | None = None) -> MScriptError:
        if token.kind == "punct" and token.value in _UNSUPPORTED_PUNCTUATORS:
            return self.error(_UNSUPPORTED_PUNCTUATORS[token.value], token.position)
        if token.kind == "name" and token.value in ("in", "instanceof"):
            return self.error(f"The {token.value!r} operator is not supported", token.position)
        if token.kind in ("template", "template_head"):
            return self.error(
                "A template literal cannot follow an expression (tagged templates are not supported)", token.position
            )
        if expected is None:
            return self.error(f"Unexpected {_describe(token)}", token.position)
        return self.error(f"Expected {expected} but found {_describe(token)}", token.position)

    def expect(self, punctuator: str, expected: str) -> Token:
        if not self.at(punctuator):
            raise self.unexpected(self.peek(), expected)
        return self.advance()

    def count_node(self, position: int) -> None:
        self.node_count += 1
        if self.node_count > MAX_NODE_COUNT:
            raise self.error(f"Expression is too large: it has more than {MAX_NODE_COUNT} parts", position)

    def add_node(self, node: nodes.Node) -> nodes.Node:
        self.count_node(node.position)
        return node

    def check_name(self, name: str, position: int) -> None:
        reason = forbidden_reason(name)
        if reason is not None:
            raise self.error(reason, position)

    # -- grammar ---------------------------------------------------------

    def parse(self) -> nodes.Node:
        node = self.parse_conditional()
        token = self.peek()
        if token.kind != "eof":
            if token.kind == "punct" and token.value in (")", "]", "}"):
                raise self.error(f"Unmatched {token.value!r}", token.position)
            raise self.unexpected(token, "the end of the expression")
        return node

    def parse_nested(self, position: int) -> nodes.Node:
        """Parse a sub-expression one level deeper, refusing pathological nesting."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING_DEPTH:
                raise self.error(f"Expression is nested more than {MAX_NESTING_DEPTH} levels deep", position)
            return self.parse_conditional()
        finally:
            self.depth -= 1

    def parse_conditional(self) -> nodes.Node:
        test = self.parse_chain(0)
        if not self.at("?"):
            return test
        question = self.advance()
        consequent = self.parse_nested(question.position)
        self.expect(":", "':' in the conditional expression")
        alternate = self.parse_nested(question.position)
        return self.add_node(nodes.Conditional(test, consequent, alternate, question.position))

    def parse_chain(self, level: int) -> nodes.Node:
        if level == len(_PRECEDENCE_LEVELS):
            return self.parse_unary()
        operators = _PRECEDENCE_LEVELS[level]
        first = self.parse_chain(level + 1)
        rest: list[tuple[str, nodes.Node, int]] = []
        while self.peek().kind == "punct" and self.peek().value in operators:
            operator = self.advance()
            self.count_node(operator.position)
            rest.append((operator.value, self.parse_chain(level + 1), operator.position))
        if not rest:
            return first
        return nodes.Chain(first, tuple(rest), first.position)

    def parse_unary(self) -> nodes.Node:
        # Prefix operators are collected in a loop, not by recursion, and
        # count towards the nesting depth: "!!!!x" nests four levels.
        prefixes: list[Token] = []
        while self.peek().kind == "punct" and self.peek().value in _PREFIX_OPERATORS:
            prefixes.append(self.advance())
            if self.depth + len(prefixes) > MAX_NESTING_DEPTH:
                raise self.error(
                    f"Expression is nested more than {MAX_NESTING_DEPTH} levels deep", prefixes[-1].position
                )
        node = self.parse_postfix()
        if self.at("**"):
            raise self.unexpected(self.peek())
        for prefix in reversed(prefixes):
            node = self.add_node(nodes.Unary(prefix.value, node, prefix.position))
        return node

    def parse_postfix(self) -> nodes.Node:
        node = self.parse_primary()
        while True:
            token = self.peek()
            if self.at("."):
                self.advance()
                name = self.peek()
                if name.kind != "name":
                    raise self.unexpected(name, "a property name after '.'")
                self.advance()
                self.check_name(name.value, name.position)
                node = self.add_node(nodes.Member(node, name.value, name.position))
            elif self.at("["):
                self.advance()
                key = self.parse_bracket_key(token.position)
                node = self.add_node(nodes.Member(node, key, token.position))
            elif self.at("("):
                node = self.parse_call(node, token)
            elif self.at("?."):
                raise self.unexpected(token)
            else:
                return node

    def parse_call(self, callee: nodes.Node, open_paren: Token) -> nodes.Node:
        if isinstance(callee, nodes.FieldRef):
            raise self.error(f"Field {callee.field_name!r} cannot be called like a method", open_paren.position)
        if not isinstance(callee, nodes.Member):
            raise self.error("Only methods can be called, as in value.toFixed(2)", open_paren.position)
        if callee.key not in ALLOWED_METHODS:
            raise self.error(
                f"Unknown method {callee.key!r}; allowed methods are {_listing(ALLOWED_METHODS)}", callee.position
            )
        self.advance()
        arguments: list[nodes.Node] = []
        while not self.at(")"):
            arguments.append(self.parse_nested(self.peek().position))
            if not self.at(","):
                break
            self.advance()
        self.expect(")", f"')' to close the call to {callee.key!r}")
        return self.add_node(nodes.Call(callee.target, callee.key, tuple(arguments), callee.position))

    def parse_bracket_key(self, position: int) -> str:
        """Parse `[ literal ]` (the "[" is consumed) and return the property key."""
        key_node = self.parse_nested(position)
        self.expect("]", "']' to close the property access")
        if isinstance(key_node, nodes.Literal) and isinstance(key_node.value, str):
            key = key_node.value
        elif (
            isinstance(key_node, nodes.Literal)
            and isinstance(key_node.value, (int, float))
            and not isinstance(key_node.value, bool)
        ):
            key = number_to_string(key_node.value)
        else:
            raise self.error(
                'Computed property access is not allowed; use a string or number literal, as in ["total"]',
                position,
            )
        self.check_name(key, key_node.position)
        return key

    def parse_primary(self) -> nodes.Node:
        token = self.peek()
        if token.kind in ("number", "string"):
            self.advance()
            return self.add_node(nodes.Literal(token.value, token.position))
        if token.kind == "template":
            self.advance()
            return self.add_node(nodes.Template((token.value,), (), token.position))
        if token.kind == "template_head":
            return self.parse_template()
        if token.kind in ("template_middle", "template_tail"):
            raise self.error("Template substitution '${...}' is empty", token.position)
        if token.kind == "name":
            return self.parse_name(token)
        if self.at("("):
            self.advance()
            node = self.parse_nested(token.position)
            self.expect(")", "')' to close '('")
            return node
        if token.kind == "eof":
            raise self.error("Unexpected end of the expression", token.position)
        raise self.unexpected(token)

    def parse_name(self, token: Token) -> nodes.Node:
        name = token.value
        if name == THIS_KEYWORD:
            return self.parse_this()
        self.advance()
        if name in LITERAL_KEYWORDS:
            return self.add_node(nodes.Literal(LITERAL_KEYWORDS[name], token.position))
        if name == UNDEFINED_KEYWORD:
            return self.add_node(nodes.Literal(UNDEFINED, token.position))
        self.check_name(name, token.position)
        if name in _UNSUPPORTED_WORDS:
            raise self.error(f"{name!r} is not supported in MScript", token.position)
        raise self.error(f"Unknown name {name!r}; data can only be read through this.<object>.<field>", token.position)

    def parse_template(self) -> nodes.Node:
        head = self.advance()
        strings = [head.value]
        expressions: list[nodes.Node] = []
        while True:
            expressions.append(self.parse_nested(self.peek().position))
            token = self.peek()
            if token.kind not in ("template_middle", "template_tail"):
                raise self.unexpected(token, "'}' to close '${' in the template literal")
            self.advance()
            strings.append(token.value)
            if token.kind == "template_tail":
                break
        return self.add_node(nodes.Template(tuple(strings), tuple(expressions), head.position))

    def parse_this(self) -> nodes.Node:
        this = self.advance()
        object_name, object_position = self.parse_this_key(
            "'this' must be followed by an object name, as in this.reservation.id", this.position
        )
        if object_name not in self.objects:
            raise self.error(
                f"Unknown object {object_name!r}; declared objects are {_listing(self.objects)}", object_position
            )
        field_name, field_position = self.parse_this_key(
            f"'this.{object_name}' must be followed by a field name, as in this.{object_name}.id", self.peek().position
        )
        fields = self.objects[object_name]
        if field_name not in fields:
            raise self.error(
                f"Unknown field {field_name!r} on object {object_name!r}; declared fields are {_listing(fields)}",
                field_position,
            )
        self.references.add((object_name, field_name))
        return self.add_node(nodes.FieldRef(object_name, field_name, this.position))

    def parse_this_key(self, missing_message: str, position: int) -> tuple[str, int]:
        """Read the `.name` or `["name"]` that must follow `this` and `this.<object>`."""
        token = self.peek()
        if self.at("."):
            self.advance()
            name = self.peek()
            if name.kind != "name":
                raise self.unexpected(name, "a name after '.'")
            self.advance()
            self.check_name(name.value, name.position)
            return name.value, name.position
        if self.at("["):
            self.advance()
            return self.parse_bracket_key(token.position), token.position
        if token.kind == "punct" and token.value in _UNSUPPORTED_PUNCTUATORS:
            raise self.unexpected(token)
        raise self.error(missing_message, position)
