"""The README documents every setting a user can set."""
from __future__ import annotations

from pathlib import Path

from bff.settings import ChatSettings
from payment_core.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    names = [*Settings.model_fields, *ChatSettings.model_fields]
    missing = [f"ORDERPAY_{name.upper()}" for name in names if f"ORDERPAY_{name.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"
