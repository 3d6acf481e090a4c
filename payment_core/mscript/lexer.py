"""Turns MScript source text into tokens.

Template literals are lexed the way JS does it: a `}` that closes a `${`
resumes the template, so nested templates need no recursion here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import MScriptError
from .numbers import JS_WHITESPACE, parse_decimal_literal
from .values import from_units

# Longest first so that "===" wins over "==" and "=". Several of these are
# not MScript operators; lexing them lets the parser say what is unsupported.
_PUNCTUATORS = (
    "===", "!==", "...",
    "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "**", "<<", ">>",
    "+", "-", "*", "/", "%", "!", "<", ">", "?", ":", "(", ")", "[", "]", ".", ",",
    "=", "{", "}", ";", "&", "|", "^", "~",
)  # fmt: skip

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_LINE_TERMINATORS = "\n\r\u2028\u2029"
_HEX_DIGITS = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True)
class Token:
    # kind is one of: number, string, template, template_head, template_middle,
    # template_tail, name, punct, eof
    kind: str
    value: Any
    position: int


def _is_ascii_digit(char: str) -> bool:
    # str.isdigit() alone also accepts digits from other scripts, which JS does not.
    return char.isascii() and char.isdigit()


def _is_name_start(char: str) -> bool:
    return char == "$" or char.isidentifier()


def _is_name_part(char: str) -> bool:
    return char == "$" or ("a" + char).isidentifier() or char in "\u200c\u200d"


class _Lexer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.index = 0
        self.tokens: list[Token] = []
        # One entry per open "{" (None) or "${" (where its template began,
        # so an unterminated template is reported at its opening backtick).
        self.open_braces: list[int | None] = []

    def error(self, message: str, position: int) -> MScriptError:
        return MScriptError(message, position, self.source)

    def peek(self, offset: int = 0) -> str:
        index = self.index + offset
        return self.source[index] if index < len(self.source) else ""

    def run(self) -> list[Token]:
        source = self.source
        while True:
            while self.index < len(source) and source[self.index] in JS_WHITESPACE:
                self.index += 1
            if self.index >= len(source):
                self.tokens.append(Token("eof", None, self.index))
                return self.tokens
            char = source[self.index]
            if _is_ascii_digit(char) or (char == "." and _is_ascii_digit(self.peek(1))):
                self.lex_number()
            elif char in "'\"":
                self.lex_string(char)
            elif char == "`":
                self.index += 1
                self.lex_template(self.index - 1, opening=True)
            elif _is_name_start(char):
                self.lex_name()
            else:
                self.lex_punctuator()

    def lex_number(self) -> None:
        start = self.index
        if self.peek() == "0" and _is_ascii_digit(self.peek(1)):
            raise self.error("Numbers may not start with 0 (octal literals are not supported)", start)
        self.skip_digits()
        if self.peek() == ".":
            self.index += 1
            self.skip_digits()
        if self.peek() in ("e", "E"):
            self.index += 1
            if self.peek() in ("+", "-"):
                self.index += 1
            if not _is_ascii_digit(self.peek()):
                raise self.error("Number has an exponent without digits", start)
            self.skip_digits()
        following = self.peek()
        if following and (_is_name_part(following) or following == "\\"):
            raise self.error(
                f"Unexpected {following!r} directly after the number (only decimal numbers are supported)", self.index
            )
        text = self.source[start : self.index]
        self.tokens.append(Token("number", parse_decimal_literal(text), start))

    def skip_digits(self) -> None:
        while _is_ascii_digit(self.peek()):
            self.index += 1

    def lex_string(self, quote: str) -> None:
        start = self.index
        self.index += 1
        chars: list[str] = []
        while True:
            char = self.peek()
            if char == "" or char in "\n\r":
                raise self.error("Unterminated string literal", start)
            self.index += 1
            if char == quote:
                break
            chars.append(self.read_escape() if char == "\\" else char)
        self.tokens.append(Token("string", from_units("".join(chars)), start))

    def lex_template(self, start: int, *, opening: bool, token_position: int | None = None) -> None:
        """Lex template text from the current index up to "`" or "${".

        `start` is the template's opening backtick; `token_position` is where
        this piece begins (the "}" of a continuation).
        """
        chars: list[str] = []
        while True:
            char = self.peek()
            if char == "":
                raise self.error("Unterminated template literal", start)
            self.index += 1
            if char == "`":
                kind = "template" if opening else "template_tail"
                break
            if char == "$" and self.peek() == "{":
                self.index += 1
                self.open_braces.append(start)
                kind = "template_head" if opening else "template_middle"
                break
            if char == "\\":
                chars.append(self.read_escape())
            elif char == "\r":
                # JS normalises CR and CRLF inside templates to LF.
                if self.peek() == "\n":
                    self.index += 1
                chars.append("\n")
            else:
                chars.append(char)
        position = start if token_position is None else token_position
        self.tokens.append(Token(kind, from_units("".join(chars)), position))

    def read_escape(self) -> str:
        """Decode the escape after a backslash; the index is just past the backslash."""
        start = self.index - 1
        char = self.peek()
        if char == "":
            raise self.error("Unterminated escape sequence", start)
        self.index += 1
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "0" and not _is_ascii_digit(self.peek()):
            return "\0"
        if _is_ascii_digit(char):
            raise self.error("Octal escape sequences are not allowed", start)
        if char == "x":
            return chr(self.read_hex(2, start))
        if char == "u":
            return self.read_unicode_escape(start)
        if char == "\r":
            if self.peek() == "\n":
                self.index += 1
            return ""
        if char in _LINE_TERMINATORS:
            return ""
        # Any other escaped character stands for itself, as in JS: \' \" \\ \`.
        return char

    def read_hex(self, count: int, start: int) -> int:
        digits = self.source[self.index : self.index + count]
        if len(digits) != count or any(d not in _HEX_DIGITS for d in digits):
            raise self.error("Invalid hexadecimal escape sequence", start)
        self.index += count
        return int(digits, 16)

    def read_unicode_escape(self, start: int) -> str:
        if self.peek() != "{":
            return chr(self.read_hex(4, start))
        close = self.source.find("}", self.index)
        digits = self.source[self.index + 1 : close] if close != -1 else ""
        if not digits or any(d not in _HEX_DIGITS for d in digits) or int(digits, 16) > 0x10FFFF:
            raise self.error("Invalid Unicode escape sequence", start)
        self.index = close + 1
        return chr(int(digits, 16))

    def lex_name(self) -> None:
        start = self.index
        self.index += 1
        while self.peek() and _is_name_part(self.peek()):
            self.index += 1
        self.tokens.append(Token("name", self.source[start : self.index], start))

    def lex_punctuator(self) -> None:
        start = self.index
        for punctuator in _PUNCTUATORS:
            if self.source.startswith(punctuator, start):
                break
        else:
            raise self.error(f"Unexpected character {self.source[start]!r}", start)
        if punctuator == "?." and _is_ascii_digit(self.peek(2)):
            # "a?.5:b" is a conditional with .5, not optional chaining.
            punctuator = "?"
        self.index += len(punctuator)
        if punctuator == "{":
            self.open_braces.append(None)
        elif punctuator == "}" and self.open_braces:
            template_start = self.open_braces.pop()
            if template_start is not None:
                self.lex_template(template_start, opening=False, token_position=start)
                return
        self.tokens.append(Token("punct", punctuator, start))


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with an "eof" token."""
    return _Lexer(source).run()
