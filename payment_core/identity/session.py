"""The authenticated caller, as every entry point (REST, MCP, CLI) sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

SUPER_ADMIN_ROLE = "superAdmin"


@dataclass(frozen=True)
class Session:
    """Who is calling, after their token has been verified.

    ``user_id`` is always a lowercase, hyphenated UUID string so it can be
    stored and compared without caring which issuer produced it.
    """

    user_id: str
    email: str
    full_name: str
    roles: tuple[str, ...]
    # The token's `jti`, reported as `sessionId` in envelopes; two tokens of one user are one identity.
    session_id: str | None = field(default=None, compare=False)

    @property
    def is_super_admin(self) -> bool:
        return SUPER_ADMIN_ROLE in self.roles
