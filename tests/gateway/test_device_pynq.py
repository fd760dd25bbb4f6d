"""The pynq backend, without a board: the recorded transcripts replayed against the
software model's answers, the recorder, the live board over a stand-in ``pynq`` module,
and the errors of each bad input.

tests/fixtures/pynq/feed_scenario.jsonl and risk_scenario.jsonl were synthesised from the
software model (their headers say so), to be re-recorded on a KV260 with the same command
and `--bitstream`.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanogate.gateway.device import DeviceError, open_device
from nanogate.gateway.device import pynq as backend
from nanogate.gateway.device.aws import records_to_beats
from nanogate.gateway.device.shared import SharedRiskEngine
from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.proto.risk import (
    DECISION,
    DECISION_DTYPE,
    ORDER_DTYPE,
    REASON_NAMES,
    RISK_REGMAP,
    UPDATE_DTYPE,
    reason_names,
)

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
    with pytest.raises(DeviceError, match="takes one of"):
        backend.PynqRiskEngine()
    with pytest.raises(DeviceError, match="takes one of"):
        backend.PynqRiskEngine(board=backend.ModelBoard(), nope=1)
    with pytest.raises(DeviceError, match="takes one of"):
        backend.PynqRiskEngine(timeout_s=1)
    with pytest.raises(DeviceError, match="timeout_s='soon': expected seconds"):
        backend.PynqRiskEngine(board=backend.ModelBoard(), timeout_s="soon")


# --- the risk pipeline ------------------------------------------------------------------

RISK_FIXTURE = FIXTURE.with_name("risk_scenario.jsonl")
DECIDED = ["client_order_id", "accepted", "reasons"]


def first_difference(got: np.ndarray, want: np.ndarray, fields: list[str]) -> str | None:
    """The first decision that differs, named by index, order id and field; or None."""
    if len(got) != len(want):
        return f"{len(got)} decisions, expected {len(want)}"
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        for name in fields:
            if g[name] != w[name]:
                return (f"decision {index} (client order id {int(w['client_order_id'])}): "
                        f"{name} is {int(g[name])}, the software backend says {int(w[name])}")
    return None


def test_risk_replay_matches_the_software_backend() -> None:
    replay = backend.ReplayBoard(RISK_FIXTURE)
    got = backend.scenario_risk(backend.PynqRiskEngine(board=replay))
    want = backend.scenario_risk(SoftwareRiskEngine())
    assert replay.finished
    assert first_difference(got["decisions"], want["decisions"], DECIDED) is None
    if "software model" in replay.source:  # synthesised: bit-exact, the cycle too
        assert "KV260" in replay.source and "--scenario risk" in replay.source
        np.testing.assert_array_equal(got["decisions"], want["decisions"])
    else:  # on a board the cycle is the hardware's clock: it only moves forward
        assert np.all(np.diff(got["decisions"]["cycle"].astype(np.int64)) > 0)
    assert got["counters"] == want["counters"]
    assert got["registers"] == want["registers"]


def test_the_risk_scenario_hits_every_reason_update_and_halt() -> None:
    result = backend.scenario_risk(SoftwareRiskEngine())
    decisions, counters = result["decisions"], result["counters"]
    seen = 0
    for mask in decisions["reasons"]:
        seen |= int(mask)
    assert reason_names(seen) == list(REASON_NAMES)
    assert all(counters[f"reject_{name}"] > 0 for name in REASON_NAMES)
    assert counters["fills"] > 0 and counters["cancels"] > 0 and counters["updates_dropped"] > 0
    assert 0 < counters["accepted"] < counters["orders"] == len(decisions)
    assert result["registers"]["kill_switch_on"] == 1 and result["registers"]["kill_switch"] == 0
    assert result["registers"]["inst_max_notional"] == (1 << 64) - 1  # both words


def test_model_board_is_bit_exact_with_the_software_backend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    board = backend.ModelBoard()
    engine = backend.PynqRiskEngine(board=board)
    software = SoftwareRiskEngine()
    for risk in (engine, software):
        got = backend.scenario_risk(risk)
    want = backend.scenario_risk(SoftwareRiskEngine())
    np.testing.assert_array_equal(got["decisions"], want["decisions"])
    # random orders and updates across several batches, state carried on from above
    monkeypatch.setattr(backend, "ORDERS_PER_BATCH", 7)
    rng = np.random.default_rng(7)
    for _ in range(5):
        orders = np.zeros(int(rng.integers(0, 30)), dtype=ORDER_DTYPE)
        for name, high in (("client_order_id", 50), ("account", 8), ("stock_locate", 6),
                           ("side", 3), ("quantity", 2_000), ("price", 1_600_000),
                           ("timestamp_ns", 4 * 10**9)):
            orders[name] = rng.integers(0, high, len(orders))
        updates = np.zeros(int(rng.integers(0, 10)), dtype=UPDATE_DTYPE)
        for name, high in (("client_order_id", 50), ("account", 8), ("stock_locate", 6),
                           ("side", 3), ("kind", 4), ("quantity", 500),
                           ("price", 1_600_000)):
            updates[name] = rng.integers(0, high, len(updates))
        np.testing.assert_array_equal(engine.submit(orders), software.submit(orders))
        engine.apply_updates(updates)
        software.apply_updates(updates)
    assert engine.counters() == software.counters()
    assert engine.counters()["orders"] > 40


class Counting:
    """A board that passes everything on and keeps the sizes of the DMA transfers."""

    def __init__(self, inner: backend.Board) -> None:
        self.inner = inner
        self.sent: list[tuple[str, int]] = []

    def read(self, ip: str, offset: int) -> int:
        return self.inner.read(ip, offset)

    def write(self, ip: str, offset: int, value: int) -> None:
        self.inner.write(ip, offset, value)

    def send(self, dma: str, data: bytes) -> None:
        self.sent.append((dma, len(data)))
        self.inner.send(dma, data)

    def recv(self, dma: str, nbytes: int) -> bytes:
        return self.inner.recv(dma, nbytes)


def test_orders_go_in_batches_that_fit_the_decision_fifo() -> None:
    assert backend.ORDERS_PER_BATCH <= backend.DECISION_FIFO
    board = Counting(backend.ModelBoard())
    engine = backend.PynqRiskEngine(board=board)
    orders = np.zeros(backend.ORDERS_PER_BATCH + 5, dtype=ORDER_DTYPE)
    orders["client_order_id"] = np.arange(len(orders))
    decisions = engine.submit(orders)
    assert decisions["client_order_id"].tolist() == orders["client_order_id"].tolist()
    assert not decisions["accepted"].any()  # nothing listed: restricted and halted
    assert board.sent == [("axi_dma_risk", 32 * backend.ORDERS_PER_BATCH),
                          ("axi_dma_risk", 32 * 5)]
    updates = np.zeros(3, dtype=UPDATE_DTYPE)
    engine.apply_updates(updates)
    assert board.sent[-1] == ("axi_dma_update", 3 * 32)
    assert engine.counters()["updates_dropped"] == 3  # kind 0
    before = len(board.sent)
    assert len(engine.submit(np.zeros(0, dtype=ORDER_DTYPE))) == 0
    engine.apply_updates(np.zeros(0, dtype=UPDATE_DTYPE))
    assert len(board.sent) == before  # nothing empty goes to a DMA


def test_beats_are_the_record_layouts_in_the_wrappers_widths() -> None:
    from nanogate.hw.platforms import kria

    assert backend.ORDER_BEAT_BYTES * 8 == kria.ORDER_BEAT_BITS
    assert backend.DECISION_BEAT_BYTES * 8 == kria.DECISION_BEAT_BITS
    assert backend.DECISION_FIFO == kria.FIFO_DEPTH
    design = kria.block_design_tcl("kv260")
    for name in backend.RISK_PARTS:
        assert f" {name}]" in design, name
    # one order by hand: first field at bit 0, the beat little-endian, zeros above
    order = np.array([(0x0102030405060708, 7, 513, 2, 0, 100, 1_500_000, 10**9)],
                     dtype=ORDER_DTYPE)
    board = Counting(backend.ModelBoard())
    sent: list[bytes] = []
    board.inner.send = lambda dma, data: sent.append(data)  # type: ignore[method-assign]
    engine = backend.PynqRiskEngine(board=board, timeout_s=0.01)
    with pytest.raises(DeviceError):
        engine.submit(order)  # nothing decides it: the orders counter never moves
    want = (bytes.fromhex("0807060504030201") + (7).to_bytes(2, "little")
            + (513).to_bytes(2, "little") + b"\x02\x00" + (100).to_bytes(4, "little")
            + (1_500_000).to_bytes(4, "little") + (10**9).to_bytes(8, "little") + b"\0\0")
    assert sent == [want]
    decision = np.array([(0x0102030405060708, 1, 0x2A, 0xABCDEF)], dtype=DECISION_DTYPE)
    beat = records_to_beats(DECISION, decision, backend.DECISION_BEAT_BYTES)
    assert beat == (bytes.fromhex("0807060504030201")
                    + (1 | 0x2A << 1 | 0xABCDEF << 16).to_bytes(8, "little"))


def test_record_command_writes_the_risk_fixture(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.jsonl"
    assert backend.main(["record", "--scenario", "risk", "-o", str(out),
                         "--stand-in", "software"]) == 0
    assert out.read_text() == RISK_FIXTURE.read_text()  # the fixture is current
    assert "33 decisions" in capsys.readouterr().out
    opened: list[str] = []

    def open_board(bitstream: str) -> backend.Board:
        opened.append(bitstream)
        return backend.ModelBoard()

    assert backend.main(["record", "--scenario", "risk", "-o", str(out), "--bitstream",
                         "y.bit"], open_board) == 0
    assert opened == ["y.bit"]
    assert "recorded on a board with y.bit" in out.read_text().splitlines()[0]


def _edited(tmp_path: Path, op: str, dma: str, nth: int,
            edit: Callable[[dict[str, Any]], None]) -> tuple[Path, int]:
    """The risk fixture with the ``nth`` ``op`` on ``dma`` edited; (path, its line)."""
    lines = RISK_FIXTURE.read_text().splitlines()
    found = [i for i, line in enumerate(lines)
             if json.loads(line).get("op") == op and json.loads(line).get("dma") == dma]
    index = found[nth]
    record = json.loads(lines[index])
    edit(record)
    lines[index] = json.dumps(record, sort_keys=True)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, index + 1


def test_a_replay_that_diverges_fails_clearly(tmp_path: Path) -> None:
    def other_order(record: dict[str, Any]) -> None:
        record["data"] = "ff" + record["data"][2:]

    path, line = _edited(tmp_path, "send", "axi_dma_risk", 0, other_order)
    with pytest.raises(DeviceError, match=rf"t\.jsonl:{line}: the backend diverges "
                                          r"from the transcript: recorded .*axi_dma_risk"):
        backend.scenario_risk(backend.PynqRiskEngine(replay=str(path)))


def test_an_edited_decision_is_caught_by_the_comparison(tmp_path: Path) -> None:
    def flip_accepted(record: dict[str, Any]) -> None:
        beat = bytearray(bytes.fromhex(record["data"]))
        beat[8] ^= 1  # the bit after client_order_id: accepted
        record["data"] = beat.hex()

    path, _ = _edited(tmp_path, "recv", "axi_dma_risk", 0, flip_accepted)
    got = backend.scenario_risk(backend.PynqRiskEngine(replay=str(path)))
    want = backend.scenario_risk(SoftwareRiskEngine())
    assert first_difference(got["decisions"], want["decisions"], DECIDED) == \
        "decision 0 (client order id 1): accepted is 0, the software backend says 1"


@pytest.mark.parametrize(("data", "message"), [
    (lambda d: d[:30], r"S2MM returned 15 bytes for decision 1 of 23; expected one "
                       r"16-byte Decision beat"),
    (lambda d: d + d, r"S2MM returned 32 bytes for decision 1 of 23; expected one 16-byte"),
    (lambda d: "09" + d[2:], r"decision 1 is for client order id 9, expected 1: the "
                             r"decision stream is out of step"),
])
def test_wrong_decision_transfers_are_refused(tmp_path: Path, data: Callable[[str], str],
                                              message: str) -> None:
    def edit(record: dict[str, Any]) -> None:
        record["data"] = data(record["data"])

    path, _ = _edited(tmp_path, "recv", "axi_dma_risk", 0, edit)
    with pytest.raises(DeviceError, match=message):
        backend.scenario_risk(backend.PynqRiskEngine(replay=str(path)))


def test_a_counter_that_never_counts_times_out() -> None:
    class Stuck(Counting):
        def send(self, dma: str, data: bytes) -> None:
            self.sent.append((dma, len(data)))  # swallowed: nothing reaches the pipeline

    engine = backend.PynqRiskEngine(board=Stuck(backend.ModelBoard()), timeout_s=0.01)
    with pytest.raises(DeviceError, match=r"2 orders not all taken within 0\.01 s "
                                          r"\(orders reads 0, expected 2\)"):
        engine.submit(np.zeros(2, dtype=ORDER_DTYPE))
    with pytest.raises(DeviceError, match=r"1 updates not all taken .*fills \+ cancels \+ "
                                          r"updates_dropped reads 0, expected 1"):
        engine.apply_updates(np.zeros(1, dtype=UPDATE_DTYPE))


def test_risk_bad_input() -> None:
    engine = backend.PynqRiskEngine(board=backend.ModelBoard())
    assert engine.regmap is RISK_REGMAP
    with pytest.raises(DeviceError, match="read-only"):
        engine.write_register("orders", 1)
    with pytest.raises(DeviceError, match="does not fit"):
        engine.write_register("inst_collar_bps", 1 << 16)
    with pytest.raises(DeviceError, match="expected Order records; the array has no "
                                          "client_order_id"):
        engine.submit(np.zeros(1, dtype=UPDATE_DTYPE[["account"]]))
    with pytest.raises(DeviceError, match=r"expected RiskUpdate records; .* kind"):
        engine.apply_updates(np.zeros(1, dtype=ORDER_DTYPE))
    too_big = np.zeros(1, dtype=ORDER_DTYPE)
    too_big["side"] = 1  # fits; a value over a field's bits cannot be packed:
    too_big = too_big.astype([(n, "<u8") for n in ORDER_DTYPE.names or ()])
    too_big["account"] = 1 << 16
    with pytest.raises(DeviceError, match=r"Order\.account: 65536 does not fit 16 bits"):
        engine.submit(too_big)
    engine.write_register("inst_max_notional", 0x1122334455667788)
    assert engine.read_register("inst_max_notional") == 0x1122334455667788


def test_model_board_refuses_what_the_overlay_would_not_take() -> None:
    board = backend.ModelBoard()
    with pytest.raises(DeviceError, match="no IP 'nanogate_0'"):
        board.read("nanogate_0", 0)
    with pytest.raises(DeviceError, match="no register at 0x400"):
        board.read(backend.RISK_IP, 0x400)
    with pytest.raises(DeviceError, match="no DMA 'axi_dma_x'"):
        board.send("axi_dma_x", b"x")
    with pytest.raises(DeviceError, match="no S2MM channel 'axi_dma_update'"):
        board.recv(backend.UPDATE_DMA, 16)
    with pytest.raises(DeviceError, match="33 bytes is not whole 32-byte Order beats"):
        board.send(backend.RISK_DMA, bytes(33))
    with pytest.raises(DeviceError, match="0 bytes is not whole 32-byte RiskUpdate beats"):
        board.send(backend.UPDATE_DMA, b"")
    with pytest.raises(DeviceError, match="no record waiting"):
        board.recv(backend.RISK_DMA, 16)
    board.send(backend.RISK_DMA, bytes(32))
    with pytest.raises(DeviceError, match="a 16-byte transfer does not fit a 8-byte buffer"):
        board.recv(backend.RISK_DMA, 8)


# --- the live board over a stand-in pynq module ----------------------------------------

class _Buffer(np.ndarray):
    freed = 0

    def freebuffer(self) -> None:
        _Buffer.freed += 1


class _Mmio:
    def __init__(self, board: backend.ModelBoard, ip: str) -> None:
        self.board, self.ip = board, ip

    def read(self, offset: int) -> int:
        return self.board.read(self.ip, offset)

    def write(self, offset: int, value: int) -> None:
        self.board.write(self.ip, offset, value)


class _Channel:
    def __init__(self, board: backend.ModelBoard, dma: str, send: bool,
                 short: int | None) -> None:
        self.board, self.dma, self.is_send, self.short = board, dma, send, short
        self.transferred = 0

    def transfer(self, buffer: np.ndarray) -> None:
        if self.dma == "axi_dma_broken":
            return  # wait() reports the error
        if self.is_send:
            self.board.send(self.dma, bytes(buffer))
            return
        data = self.board.recv(self.dma, len(buffer))
        if self.short is not None:
            data = data[:self.short]
        buffer[:len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.transferred = len(data)

    def wait(self) -> None:
        if self.dma == "axi_dma_broken":
            raise RuntimeError("DMA Decode Error (invalid address)")


class _Overlay:
    """pynq.Overlay as the nanogate overlay looks to pynq, answered by a ModelBoard."""

    ip_names = (*backend.FEED_PARTS, *backend.RISK_PARTS)
    short: int | None = None

    def __init__(self, bitstream: str) -> None:
        if not bitstream.endswith(".bit"):
            raise ValueError("Bitstream file name must end in .bit")
        self.model = backend.ModelBoard()
        self.ip_dict: dict[str, dict[str, Any]] = {name: {} for name in self.ip_names}
        for name in self.ip_names:
            if name.startswith("axi_dma"):
                ip = type("Dma", (), {})()
                ip.sendchannel = _Channel(self.model, name, True, None)
                ip.recvchannel = _Channel(self.model, name, False, self.short)
            else:
                ip = type("Ip", (), {})()
                ip.mmio = _Mmio(self.model, name)
            setattr(self, name, ip)


@pytest.fixture
def fake_pynq(monkeypatch: pytest.MonkeyPatch) -> type[_Overlay]:
    module = types.ModuleType("pynq")
    module.Overlay = _Overlay  # type: ignore[attr-defined]
    module.allocate = lambda shape, dtype: np.zeros(shape, dtype).view(_Buffer)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynq", module)
    return _Overlay


def test_live_board_drives_overlay_mmio_and_dma(fake_pynq: type[_Overlay]) -> None:
    freed = _Buffer.freed
    engine = backend.PynqRiskEngine(bitstream="nanogate.bit")
    got = backend.scenario_risk(engine)
    want = backend.scenario_risk(SoftwareRiskEngine())
    np.testing.assert_array_equal(got["decisions"], want["decisions"])
    assert got["counters"] == want["counters"]
    assert isinstance(engine.board, backend.LiveBoard)
    # every MM2S buffer freed after its transfer; one S2MM buffer kept for the decisions
    assert _Buffer.freed - freed == 7 + 1  # the scenario submits 7 times, updates once
    assert list(engine.board._recv_buffers) == [("axi_dma_risk", 16)]
    engine.board.close()
    feed = backend.PynqFeedParser(bitstream="nanogate.bit")
    np.testing.assert_array_equal(backend.scenario(feed)["records"],
                                  backend.scenario(SoftwareFeedParser())["records"])


def test_live_board_errors(fake_pynq: type[_Overlay], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeviceError, match=r"x\.bin: pynq\.Overlay cannot load it: "
                                          r"ValueError: Bitstream file name must end"):
        backend.PynqRiskEngine(bitstream="x.bin")
    monkeypatch.setattr(fake_pynq, "ip_names", backend.FEED_PARTS)
    backend.PynqFeedParser(bitstream="old.bit")  # a feed-only overlay still serves the feed
    with pytest.raises(DeviceError, match=r"old\.bit: overlay has no axi_dma_risk, "
                                          r"axi_dma_update, nanogate_risk_0 \(has axi_dma_feed"):
        backend.PynqRiskEngine(bitstream="old.bit")
    monkeypatch.setattr(fake_pynq, "ip_names", (*backend.RISK_PARTS, "axi_dma_broken"))
    monkeypatch.setattr(fake_pynq, "short", 8)
    engine = backend.PynqRiskEngine(bitstream="short.bit")
    with pytest.raises(DeviceError, match=r"S2MM returned 8 bytes for decision 1 of 1; "
                                          r"expected one 16-byte Decision beat"):
        engine.submit(np.zeros(1, dtype=ORDER_DTYPE))
    assert isinstance(engine.board, backend.LiveBoard)
    with pytest.raises(DeviceError, match=r"axi_dma_broken: MM2S transfer of 3 bytes: "
                                          r"DMA Decode Error"):
        engine.board.send("axi_dma_broken", b"abc")


def test_live_risk_board_without_pynq_says_so(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq raises ImportError
    with pytest.raises(DeviceError, match=r"pynq package .*pip install 'nanogate\[pynq\]'"):
        backend.PynqRiskEngine(bitstream="x.bit")
    with pytest.raises(DeviceError, match=r"needs the pynq package"):
        open_device("pynq", bitstream="x.bit").risk_engine()
    assert backend.main(["record", "--scenario", "risk", "-o", str(tmp_path / "t"),
                         "--bitstream", "x.bit"]) == 1
    assert "pynq package" in capsys.readouterr().err


def test_open_device_gives_the_pynq_risk_engine() -> None:
    engine = open_device("pynq", replay=str(RISK_FIXTURE)).risk_engine()
    assert isinstance(engine, backend.PynqRiskEngine)
    shared = SharedRiskEngine(engine)
    got = backend.scenario_risk(shared)
    assert len(got["decisions"]) == 33


def test_nanogate_hw_record_pynq_writes_the_fixture(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from nanogate.cli import main

    out = tmp_path / "t.jsonl"
    assert main(["hw", "record-pynq", "-o", str(out), "--stand-in", "software"]) == 0
    assert out.read_text() == FIXTURE.read_text()
    assert "43 records" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # a board or the stand-in, not neither
        main(["hw", "record-pynq", "-o", str(out)])
    assert exit_info.value.code == 2
