"""CI fails when a generated file no longer matches the tables it comes from."""

from __future__ import annotations

from nanogate.codegen import GENERATED, stale_files


def test_generated_files_are_fresh() -> None:
    assert GENERATED, "nothing registered"
    stale = stale_files()
    assert not stale, f"stale generated files {stale}: run `make generate` and commit"
