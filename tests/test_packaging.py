"""The folders are the package: every Python package folder must be in pyproject.toml."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _config() -> dict[str, object]:
    with open(REPO / "pyproject.toml", "rb") as handle:
        setuptools = tomllib.load(handle)["tool"]["setuptools"]
    assert isinstance(setuptools, dict)
    return setuptools


def test_every_package_folder_is_listed() -> None:
    config = _config()
    mapping = config["package-dir"]
    listed = config["packages"]
    assert isinstance(mapping, dict) and isinstance(listed, list)
    found = set()
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            found.add(".".join((package, *relative.parts)))
    assert found == set(listed), (
        f"missing from pyproject.toml: {sorted(found - set(listed))}; "
        f"listed but absent: {sorted(set(listed) - found)}")


def test_top_level_folders_import_as_subpackages() -> None:
    for name in ("proto", "hw", "gateway", "control", "sim", "gpu"):
        module = importlib.import_module(f"nanogate.{name}")
        assert Path(module.__file__ or "").parent == REPO / name
