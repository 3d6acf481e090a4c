"""`python -m mcp_server`: the same as `orderpay mcp --stdio` (for the token in ORDERPAY_MCP_TOKEN).

Settings come from the usual ORDERPAY_* variables (give ORDERPAY_DATA_DIR as an absolute
path: desktop clients start servers in a directory of their own choosing).
"""
from __future__ import annotations

import sys

from payment_core.cli import main
from mcp_server.stdio import add_mcp_command

if __name__ == "__main__":
    sys.exit(main(["mcp", "--stdio", *sys.argv[1:]], commands=[add_mcp_command]))
