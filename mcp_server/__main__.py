"""`python -m mcp_server`: the stdio server, for the token in ORDERPAY_MCP_TOKEN.

The same as `orderpay mcp --stdio`; settings come from the usual ORDERPAY_*
variables (give ORDERPAY_DATA_DIR as an absolute path: desktop clients start
servers in a directory of their own choosing).
"""
from __future__ import annotations

import os
import sys

from payment_core.identity import AuthError
from payment_core.settings import Settings
from mcp_server.stdio import run_stdio


def main() -> int:
    token = os.environ.get("ORDERPAY_MCP_TOKEN", "").strip()
    if not token:
        print("orderpay mcp: set ORDERPAY_MCP_TOKEN to the bearer token of the user to act for "
              "(development: `orderpay token --user alice`)", file=sys.stderr)
        return 2
    try:
        run_stdio(Settings(), token)
    except AuthError as exc:
        print(f"orderpay mcp: the token is refused: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
