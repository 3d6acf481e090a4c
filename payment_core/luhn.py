"""The Luhn checksum of card numbers: the sandbox validates numbers with it, and the chat
backend uses it to recognise card numbers it must keep from the model."""
from __future__ import annotations


def luhn_valid(digits: str) -> bool:
    """True when the string of digits passes the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
