"""bench/mcp_tools.py stays runnable. Not timed here: this only checks that it completes and
prints its figures (`--quick`, nothing written to docs/performance.md)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_mcp_benchmark_runs() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "mcp_tools.py"), "--quick", "--no-write"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "throughput ratio orderpay / bare MCPServer" in done.stdout
    assert "| orderpay `getReservation`" in done.stdout
