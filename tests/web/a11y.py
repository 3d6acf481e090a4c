"""The accessibility audit of the browser tests: axe-core (npm, tests/web/package.json), run
inside the page as it is, reporting violations of serious or critical impact."""
from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


@cache
def axe_source() -> str:
    """axe-core's script; installs tests/web's npm packages first when missing (a clean clone)."""
    if not AXE.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the accessibility audit (Node.js 20)"
        command = "ci" if (HERE / "package-lock.json").exists() else "install"
        subprocess.run([npm, command, "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)
    return AXE.read_text()


def serious_violations(page: Any, scope: str = "document") -> list[dict[str, Any]]:
    """axe's serious and critical violations on `page` now: [{id, impact, help, targets}].

    Injected through Playwright's evaluate (the pages' Content-Security-Policy allows no inline
    script, rightly; the test's own code is not a page script)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;undefined")
    found = page.evaluate(f"""async () => {{
        const result = await window.axe.run({scope}, {{ resultTypes: ['violations'] }});
        return result.violations.map((v) => ({{ id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }}));
    }}""")
    return [violation for violation in found if violation["impact"] in SERIOUS]


def assert_accessible(page: Any, where: str) -> None:
    violations = serious_violations(page)
    assert not violations, f"axe-core on {where}: {violations}"
