"""The pynq backend, without a board: the recorded transcript replayed against the
software model's answers, the recorder, and the errors of each bad input.

tests/fixtures/pynq/feed_scenario.jsonl was synthesised from the software model (its
header says so), to be re-recorded on a KV260 with the same command and `--bitstream`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from nanogate.gateway.device import DeviceError
from nanogate.gateway.device import pynq as backend
from nanogate.gateway.device.software_feed import SoftwareFeedParser

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pynq" / "feed_scenario.jsonl"


def test_pynq_is_not_imported() -> None:
    assert "pynq" not in sys.modules  # the default environment never has it


def test_replay_matches_the_software_model() -> None:
    replay = backend.ReplayBoard(FIXTURE)
    assert "software model" in replay.source and "KV260" in replay.source
    got = backend.scenario(backend.PynqFeedParser(board=replay))
    want = backend.scenario(SoftwareFeedParser())
    assert replay.finished
    np.testing.assert_array_equal(got["records"], want["records"])
    assert got["counters"] == want["counters"]
    assert len(got["records"]) > 20 and got["counters"]["gaps"] == 1
    assert got["counters"]["filtered"] > 0


def test_replay_option_by_path() -> None:
    parser = backend.PynqFeedParser(replay=str(FIXTURE))
    assert parser.regmap.name == "feed parser"


def test_record_command_writes_a_replayable_transcript(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    assert backend.main(["record", "-o", str(out), "--stand-in", "software"]) == 0
    assert out.read_text() == FIXTURE.read_text()  # the fixture is current


def test_record_on_a_board_uses_the_bitstream(tmp_path: Path) -> None:
    opened: list[str] = []

    def open_board(bitstream: str) -> backend.Board:
        opened.append(bitstream)
        return backend.ModelBoard()

    out = tmp_path / "t.jsonl"
    assert backend.main(["record", "-o", str(out), "--bitstream", "x.bit"], open_board) == 0
    assert opened == ["x.bit"]
    assert "recorded on a board with x.bit" in out.read_text().splitlines()[0]


def test_live_board_without_pynq_says_so(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"needs the pynq package"):
        backend.PynqFeedParser(bitstream="x.bit")
    assert backend.main(["record", "-o", str(tmp_path / "t"), "--bitstream", "x.bit"]) == 1
    assert "pynq package" in capsys.readouterr().err


def test_divergence_is_reported(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    op = json.loads(lines[3])
    op["data" if "data" in op else "value"] = "00" if "data" in op else 12345
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([*lines[:3], json.dumps(op), *lines[4:]]))
    with pytest.raises(DeviceError, match=r"t\.jsonl:4: the backend diverges"):
        backend.scenario(backend.PynqFeedParser(replay=str(path)))


def test_transcript_too_short(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(FIXTURE.read_text().splitlines()[:10]))
    with pytest.raises(DeviceError, match="transcript ended"):
        backend.scenario(backend.PynqFeedParser(replay=str(path)))


@pytest.mark.parametrize(("text", "message"), [
    ("", "not a nanogate pynq transcript"),
    ('{"transcript": "other"}', "not a nanogate pynq transcript"),
    ("{not json", "not a JSON-lines transcript"),
])
def test_bad_transcripts(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(text)
    with pytest.raises(DeviceError, match=message):
        backend.ReplayBoard(path)
    with pytest.raises(DeviceError, match="cannot read transcript"):
        backend.ReplayBoard(tmp_path / "missing.jsonl")


def test_bad_options_and_registers() -> None:
    with pytest.raises(DeviceError, match="takes one of"):
        backend.PynqFeedParser()
    with pytest.raises(DeviceError, match="takes one of"):
        backend.PynqFeedParser(replay="a", bitstream="b")
    parser = backend.PynqFeedParser(board=backend.ModelBoard())
    with pytest.raises(DeviceError, match="read-only"):
        parser.write_register("packets", 1)
    with pytest.raises(DeviceError, match="does not fit"):
        parser.write_register("filter_enable", 2)
    with pytest.raises(KeyError):
        parser.read_register("nope")
    with pytest.raises(DeviceError, match="empty payload"):
        parser.push([b""])
    assert len(parser.push([])) == 0
    with pytest.raises(DeviceError, match="risk pipeline"):
        backend.PynqRiskEngine()
