from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nanogate.sim.venue import cli


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nanogate")
    cli.register(top.add_subparsers())
    return top


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["venue", "--help"])
    text = capsys.readouterr().out
    assert "--seed-from FILE" in text and "SoupBinTCP" in text and "examples:" in text


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["venue", "--seed-from", "x", "--listen", "nowhere"],
                 ["venue", "--seed-from", "x", "--heartbeat", "0"]):
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args(argv)
        assert exit_.value.code == 2


def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["venue", "--seed-from", str(tmp_path / "missing.itch")])
    assert args.handler(args) == 2
    assert "cannot seed the venue" in capsys.readouterr().err
    users = tmp_path / "users.yaml"
    for text, message in (("- a\n", "expected a mapping"),
                          ("TOOLONGNAME: pw\n", "1 to 6 letters"),
                          ("MM01: has space\n", "up to 10 ASCII")):
        users.write_text(text)
        with pytest.raises(ValueError, match=message):
            cli.load_users(users)
    users.write_text("MM01: secret\n")
    assert cli.load_users(users) == {"MM01": "secret"}
