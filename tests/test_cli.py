"""The `nanogate` and `ngctl` commands, as users type them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nanogate.cli import main
from nanogate.control.ngctl import main as ngctl_main
from nanogate.proto import binaryfile, moldudp64
from nanogate.proto.itch import encode_message

DECODE_KEYS = {"seq", "type", "stock_locate", "tracking_number", "timestamp",
               "order_reference_number", "buy_sell_indicator", "shares", "stock", "price",
               "attribution", "executed_shares", "match_number", "printable", "execution_price",
               "cancelled_shares", "original_order_reference_number",
               "new_order_reference_number", "event_code"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_jsonl_covers_the_spec_fields(capsys: pytest.CaptureFixture[str],
                                             sample_path: Path) -> None:
    code, out, err = run(capsys, "feed", "decode", str(sample_path))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 12_012
    assert "length prefix is 0" in err
    keys = set().union(*lines)
    # The sample has no C message: its fields come from a crafted one below.
    assert DECODE_KEYS - {"printable", "execution_price"} <= keys
    first_add = next(obj for obj in lines if obj["type"] == "A")
    assert isinstance(first_add["price"], int) and isinstance(first_add["timestamp"], int)
    assert first_add["stock"] == first_add["stock"].rstrip()
    assert [obj["seq"] for obj in lines[:3]] == [1, 2, 3]


def test_decode_execution_with_price_and_limit(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    message = encode_message({"type": "C", "stock_locate": 3, "tracking_number": 1,
                              "timestamp": 5, "order_reference_number": 77,
                              "executed_shares": 10, "match_number": 9, "printable": "Y",
                              "execution_price": 1_000_100})
    path = tmp_path / "c.itch"
    path.write_bytes(binaryfile.encode([message] * 3))
    code, out, _ = run(capsys, "feed", "decode", str(path), "--limit", "2")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 2
    assert objects[1] == {"seq": 2, "type": "C", "stock_locate": 3, "tracking_number": 1,
                          "timestamp": 5, "order_reference_number": 77, "executed_shares": 10,
                          "match_number": 9, "printable": "Y", "execution_price": 1_000_100}


def test_decode_table_and_type_filter(capsys: pytest.CaptureFixture[str],
                                      sample_path: Path) -> None:
    code, out, _ = run(capsys, "feed", "decode", str(sample_path), "-o", "table",
                       "--type", "R")
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 3 and all(" R " in row for row in rows)
    assert "stock=ALC" in rows[0] and "03:10:35.930564116" in rows[0]
    code, _, err = run(capsys, "feed", "decode", str(sample_path), "--type", "!")
    assert code == 2 and "unknown message type" in err


def test_decode_reports_faults_and_strict_fails(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    good = encode_message({"type": "D", "stock_locate": 1, "tracking_number": 0,
                           "timestamp": 1, "order_reference_number": 4})
    path = tmp_path / "bad.itch"
    path.write_bytes(binaryfile.encode([good, b"?" * 19, good]))
    code, out, err = run(capsys, "feed", "decode", str(path))
    assert code == 0 and len(out.splitlines()) == 2
    assert "dropped 1 (unknown_type)" in err and "byte 21" in err
    code, _, _ = run(capsys, "feed", "decode", str(path), "--strict")
    assert code == 1


def test_stats(capsys: pytest.CaptureFixture[str], sample_path: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "feed", "stats", str(sample_path), "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["messages"] == 12_012 and stats["types"]["P"] == 5000
    assert (stats["first_seq"], stats["last_seq"], stats["gaps"]) == (1, 12_012, 0)
    assert stats["zero_length_prefixes"] is True
    code, out, _ = run(capsys, "feed", "stats", str(sample_path))
    assert "Add Order" in out and "4,997" in out
    # A capture with a gap and a malformed datagram.
    from nanogate.gateway.feed.capture import Datagram, write_datagrams
    message = encode_message({"type": "D", "stock_locate": 1, "tracking_number": 0,
                              "timestamp": 1, "order_reference_number": 4})
    payloads = [moldudp64.encode_packet("S", 1, [message]), b"tiny",
                moldudp64.encode_packet("S", 5, [message])]
    capture = tmp_path / "g.pcap"
    write_datagrams(capture, [Datagram(1.0, ("127.0.0.1", 1), ("239.1.1.1", 2), p)
                              for p in payloads])
    code, out, _ = run(capsys, "feed", "stats", str(capture), "--json")
    stats = json.loads(out)
    assert (stats["gaps"], stats["missing"], stats["faults"]["short_packet"]) == (1, 3, 1)
    assert stats["format"] == "pcap" and stats["datagrams"] == 3


def test_book(capsys: pytest.CaptureFixture[str], sample_path: Path) -> None:
    code, out, _ = run(capsys, "book", str(sample_path), "--stock", "ALC", "--depth", "3",
                       "--json")
    assert code == 0
    book = json.loads(out)
    assert book["stock"] == "ALC" and 0 < len(book["bids"]) <= 3
    bids = [level["price"] for level in book["bids"]]
    asks = [level["price"] for level in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    code, out, _ = run(capsys, "book", str(sample_path), "--stock", "ALC")
    assert code == 0 and "ALC" in out
    code, _, err = run(capsys, "book", str(sample_path), "--stock", "NOPE")
    assert code == 1 and "ALC" in err and "NOPE" in err


def test_synth_then_stats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("day.itch", "day.pcap"):
        out_path = tmp_path / name
        code, _, _ = run(capsys, "feed", "synth", "--messages", "3000", "--instruments", "4",
                         "--seed", "9", "-o", str(out_path))
        assert code == 0 and out_path.exists()
        code, out, _ = run(capsys, "feed", "stats", str(out_path), "--json")
        stats = json.loads(out)
        assert stats["messages"] == 3000 and stats["gaps"] == 0
        assert stats["format"] == ("pcap" if name.endswith("pcap") else "binaryfile")
    code, _, err = run(capsys, "feed", "synth", "--messages", "1", "-o",
                       str(tmp_path / "x.itch"))
    assert code == 2 and err


def test_bad_files_exit_2_with_a_message(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("not a feed at all")
    for argv in (["feed", "decode", str(junk)], ["feed", "stats", str(junk)],
                 ["book", str(junk), "--stock", "X"],
                 ["feed", "decode", str(tmp_path / "missing")]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and not out and err.startswith("nanogate: ")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["feed"], ["feed", "decode"], ["book", "f"], ["feed", "decode", "f",
                                                                 "--limit", "-1"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    capsys.readouterr()


def test_console_scripts_and_help() -> None:
    bindir = Path(sys.executable).parent
    out = subprocess.run([bindir / "nanogate", "feed", "decode", "--help"], check=True,
                         capture_output=True, text=True).stdout
    assert "BinaryFILE" in out and "--limit" in out and "example" in out
    done = subprocess.run([bindir / "ngctl", "--help"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "halt" in done.stdout


def test_ngctl_without_a_server_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = ngctl_main(["--server", f"127.0.0.1:{port}", "--token", "x", "--timeout", "2",
                       "status"])
    assert code == 1
    assert capsys.readouterr().err


def test_risk_check_through_the_nanogate_command(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text(
        "global: {kill_switch: false}\n"
        "instruments:\n"
        "  - {stock_locate: 1, reference_price: 1500000, collar_bps: 500, max_qty: 10000,\n"
        "     max_notional: 10000000000, max_long: 50000, max_short: 50000,\n"
        "     restricted: false, halted: false}\n"
        "accounts:\n"
        "  - {account: 7, credit_limit: 50000000000, rate_per_s: 1000, burst: 50,\n"
        "     halted: false, reduce_only: false}\n")
    orders = tmp_path / "orders.csv"
    orders.write_text("client_order_id,account,stock_locate,side,quantity,price\n"
                      "1,7,1,buy,100,1500000\n"
                      "2,7,1,buy,10001,1500000\n"
                      "3,8,1,sell,1,1500000\n")
    code, out, _ = run(capsys, "risk", "check", "--orders", str(orders), "--limits",
                       str(limits))
    assert code == 0
    decisions = [json.loads(line) for line in out.splitlines()]
    assert [d["client_order_id"] for d in decisions] == [1, 2, 3]
    assert decisions[0]["accepted"] is True and decisions[0]["reasons"] == []
    assert decisions[1]["accepted"] is False and "max_qty" in decisions[1]["reasons"]
    assert decisions[2]["reasons"] == ["halted"]  # account 8 is not listed
