"""The README documents every setting a user can set."""
from __future__ import annotations

from pathlib import Path

from payment_core.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"ORDERPAY_{name.upper()}" for name in Settings.model_fields if f"ORDERPAY_{name.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"
