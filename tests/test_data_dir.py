"""`orderpay serve` and `orderpay token` find the same data dir from any folder of the project:
the default `.orderpay` is the nearest one up from the current folder, or the project root's."""
from __future__ import annotations

from pathlib import Path

import pytest

from payment_core.settings import Settings, default_data_dir


def test_the_project_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    deep = tmp_path / "docs" / "screenshots"
    deep.mkdir(parents=True)
    assert default_data_dir(deep) == tmp_path / ".orderpay"
    assert default_data_dir(tmp_path) == tmp_path / ".orderpay"


def test_an_existing_data_dir_up_the_tree_wins(tmp_path: Path) -> None:
    (tmp_path / ".orderpay").mkdir()
    (tmp_path / "sub" / "project").mkdir(parents=True)
    assert default_data_dir(tmp_path / "sub" / "project") == tmp_path / ".orderpay"


def test_settings_use_it_unless_a_data_dir_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "web").mkdir()
    monkeypatch.chdir(tmp_path / "web")
    monkeypatch.delenv("ORDERPAY_DATA_DIR", raising=False)
    assert Settings(_env_file=None).data_dir == tmp_path / ".orderpay"
    assert Settings(_env_file=None, data_dir=tmp_path / "elsewhere").data_dir == tmp_path / "elsewhere"
