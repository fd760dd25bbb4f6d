"""Stand-in executables on PATH for the instance and board tools (no network, no sudo)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

StandIn = Callable[[str, str], Path]


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """``stand_in(name, body)`` writes a shell script ``name`` on a fresh PATH; every call
    appends its arguments to ``calls.log`` first, so tests can check what ran, in order."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    base = tmp_path / "base"  # only what the stand-ins use, so a real ssh is never found
    base.mkdir()
    (base / "cat").symlink_to(shutil.which("cat") or "/bin/cat")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{base}")

    def write(name: str, body: str) -> Path:
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return log

    return write
