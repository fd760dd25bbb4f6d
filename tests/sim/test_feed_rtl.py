"""The rtl-sim feed backend, `nanogate feed decode --device rtl-sim`, and the feed hw tools."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from nanogate.cli import main
from nanogate.gateway.device import open_device
from nanogate.hw.feed import mutants, tools
from nanogate.proto import binaryfile, moldudp64
from nanogate.proto.itch import encode_message
from nanogate.sim import rtl_feed

pytestmark = pytest.mark.sim


def small_sample(sample_path: Path, tmp_path: Path, count: int = 60) -> Path:
    data = sample_path.read_bytes()
    offset, length = binaryfile.frame(data).messages[count - 1]
    path = tmp_path / "small.itch"
    path.write_bytes(data[:offset + length])
    return path


def decode(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["feed", "decode", *args])
    return code, out.getvalue(), err.getvalue()


def test_rtl_sim_backend_registers_and_records() -> None:
    parser = open_device("rtl-sim").feed_parser()
    message = encode_message({"type": "D", "stock_locate": 4, "tracking_number": 0,
                              "timestamp": 9, "order_reference_number": 77})
    events = parser.push([moldudp64.encode_packet("S", 10, [message, message])])
    assert events["order_ref"].tolist() == [77, 77] and events["seq"].tolist() == [10, 11]
    assert parser.counters()["messages"] == 2
    parser.write_register("filter_enable", 1)
    assert parser.read_register("filter_enable") == 1
    assert len(parser.push([moldudp64.encode_packet("S", 12, [message])])) == 0
    assert parser.read_register("filtered") == 1


def test_decode_rtl_sim_prints_what_software_prints(sample_path: Path, tmp_path: Path) -> None:
    path = small_sample(sample_path, tmp_path)
    code, software, _ = decode(str(path))
    assert code == 0
    code, hardware, _ = decode(str(path), "--device", "rtl-sim")
    assert code == 0 and hardware == software
    assert len(hardware.splitlines()) == 60 and json.loads(hardware.splitlines()[0])["seq"] == 1


def test_decode_rtl_sim_disagreement_is_an_error(sample_path: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_push = rtl_feed.RtlFeedParser.push

    def wrong_price(self: rtl_feed.RtlFeedParser, payloads: list[bytes]) -> np.ndarray:
        events = real_push(self, payloads)
        events["price"][-1] += 1
        return events

    monkeypatch.setattr(rtl_feed.RtlFeedParser, "push", wrong_price)
    code, out, err = decode(str(small_sample(sample_path, tmp_path, 30)), "--device", "rtl-sim")
    assert code == 1 and out == ""
    assert "record 29 (seq 30) differs from the software model: price" in err


def test_verilog_and_register_doc(tmp_path: Path) -> None:
    written = tools.write_verilog(tmp_path)
    assert [p.name for p in written] == ["feed_parser.v", "feed_regs.md"]
    text = written[0].read_text()
    assert "module feed_parser" in text and "s_axis__tkeep" in text and "bus__awaddr" in text
    assert "| `truncated` | ro |" in written[1].read_text()


@pytest.mark.slow
def test_mutation_script_catches_two_mutants() -> None:
    out = io.StringIO()
    caught, total = mutants.run(["length prefix bytes swapped", "gap flag dropped"], out)
    assert (caught, total) == (2, 2)
    assert "mutation score: 2/2 caught" in out.getvalue()
