from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.cli import main


def test_demo_runs_the_pipeline_end_to_end(capsys: pytest.CaptureFixture[str],
                                           sample_path: Path) -> None:
    code = main(["demo", "--sample", str(sample_path), "--synthetic-messages", "20000"])
    out = capsys.readouterr().out
    assert code == 0
    assert "12,012 messages" in out
    assert "records identical: yes" in out and "events identical: yes" in out
    for symbol in ("ALC", "BOB", "CHAR"):
        assert symbol in out
    assert "decoded 20,000 messages" in out


def test_demo_without_the_sample_still_runs(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    code = main(["demo", "--sample", str(tmp_path / "absent"), "--synthetic-messages", "5000"])
    captured = capsys.readouterr()
    assert code == 0
    assert "synthetic session only" in captured.err and "decoded 5,000 messages" in captured.out
