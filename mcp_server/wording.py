"""Names and phrases the tools are described with, derived from the spec's camelCase names."""
from __future__ import annotations

import re


def capitalized(name: str) -> str:
    return name[:1].upper() + name[1:]


def words(name: str) -> str:
    """`orderManagementOrder` → `order management order`, for titles and sentences."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def with_article(phrase: str) -> str:
    return f"{'an' if phrase[:1] in 'aeiou' else 'a'} {phrase}"
