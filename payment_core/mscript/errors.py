"""Exceptions raised by MScript: defined with every other failure in `payment_core.errors`."""

from __future__ import annotations

from payment_core.errors import MScriptError, MScriptEvaluationError

__all__ = ["MScriptError", "MScriptEvaluationError"]
