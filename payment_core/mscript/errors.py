"""Exceptions raised by MScript.

Both carry a plain-language message and a character offset so that spec
authors can find the problem in their YAML without reading a traceback.
"""

from __future__ import annotations

_EXCERPT_CHARS = 24


class MScriptError(ValueError):
    """A problem with an MScript expression found while loading it.

    Subclasses ValueError because a bad expression is bad configuration
    input, and callers that validate specs already catch ValueError.
    """

    def __init__(self, message: str, position: int | None = None, source: str | None = None) -> None:
        self.message = message
        self.position = position
        self.source = source
        super().__init__(message, position)

    def __str__(self) -> str:
        if self.position is None:
            return f"{self.message}."
        return f"{self.message} (at position {self.position}{self._excerpt()})."

    def _excerpt(self) -> str:
        # Quote the text at the position so the author can find it without counting.
        if self.source is None or self.position is None:
            return ""
        if self.position >= len(self.source):
            return ", the end of the expression"
        snippet = self.source[self.position : self.position + _EXCERPT_CHARS]
        if self.position + _EXCERPT_CHARS < len(self.source):
            snippet += "..."
        return f", near {snippet!r}"


class MScriptEvaluationError(MScriptError):
    """A fault while evaluating, where JavaScript would have thrown, or a limit was hit."""
