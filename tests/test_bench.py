"""The benchmarks stay runnable. They are not timed here: CI only checks that each one
completes and prints its figures (`--quick`, nothing written to docs/performance.md)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["rest_orders.py", "start_payment.py", "chat_stream.py", "mcp_tools.py",
                                    "concurrent_buyers.py", "webhooks.py", "chat_first_event.py"])
def test_benchmark_runs(script: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", "--no-write"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout
