"""`nanogate feed publish` and `nanogate gateway run|bench` through a local parser."""

from __future__ import annotations

import argparse
import json
import socket
import threading
from pathlib import Path

import pytest

from nanogate.gateway import gateway_cli
from nanogate.gateway.net.addr import Endpoint
from nanogate.sim import publish_cli
from nanogate.sim.synth import write_synthetic

from .helpers import decode_lines, wait_joined


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="nanogate")
    commands = root.add_subparsers(dest="command", required=True)
    feed = commands.add_parser("feed")
    publish_cli.register_feed(feed.add_subparsers(dest="feed_command", required=True))
    gateway_cli.register(commands)
    return root


def call(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


def test_publish_and_run_dump_equals_feed_decode(lines: tuple[Endpoint, Endpoint],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "day.pcap"
    write_synthetic(feed, 5000, 4, 3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))  # a free port, given back for the rewinder to take
        rewinder = f"127.0.0.1:{probe.getsockname()[1]}"
    publish = ["feed", "publish", str(feed), "--line-a", str(lines[0]), "--line-b",
               str(lines[1]), "--rate", "100000", "--loss", "0.05", "--dup", "0.05",
               "--reorder", "0.05", "--rewinder-listen", rewinder, "--linger", "3"]
    codes: list[int] = []

    def exchange() -> None:
        # once the gateway listens (its start takes seconds on a loaded machine): had
        # it joined later than the publisher's linger it would hear nothing at all
        assert wait_joined(lines[0].host) and wait_joined(lines[1].host)
        codes.append(call(publish))

    thread = threading.Thread(target=exchange, daemon=True)
    thread.start()
    dump, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    code = call(["gateway", "run", "--line-a", str(lines[0]), "--line-b", str(lines[1]),
                 "--rewinder", rewinder, "--dump", str(dump), "--exit-on-end-of-session",
                 "--duration", "30", "--state", str(state), "--record", str(tmp_path / "rec")])
    thread.join(timeout=10)
    assert code == 0 and codes == [0]
    assert dump.read_text().splitlines() == decode_lines(feed)
    assert json.loads(state.read_text())["next_sequence"] == 5001
    recorded = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert recorded == ["line-a.pcap", "line-b.pcap", "recovery.pcap"]
    # a recording replays: line B alone (its 5 % loss, no rewinder) gives every message
    # it carried, in order, and counts the rest lost
    capsys.readouterr()
    replayed = tmp_path / "replayed.jsonl"
    code = call(["gateway", "run", "--line-a", str(lines[0]), "--replay",
                 str(tmp_path / "rec" / "line-b.pcap"), "--dump", str(replayed), "--json"])
    summary = json.loads(capsys.readouterr().out)
    got, expected = replayed.read_text().splitlines(), decode_lines(feed)
    assert summary["lost"] > 0 and code == 1  # lost messages fail the run
    assert len(got) + summary["lost"] == len(expected) == summary["messages"] + summary["lost"]
    position = {line: k for k, line in enumerate(expected)}
    indices = [position[line] for line in got]
    assert indices == sorted(indices)


@pytest.mark.sim
@pytest.mark.slow
def test_replay_through_the_simulated_rtl_equals_feed_decode(tmp_path: Path) -> None:
    feed = tmp_path / "day.itch"
    write_synthetic(feed, 300, 4, 5)
    dump = tmp_path / "out.jsonl"
    assert call(["gateway", "run", "--line-a", "239.255.0.1:5001", "--replay", str(feed),
                 "--device", "rtl-sim", "--dump", str(dump)]) == 0
    assert dump.read_text().splitlines() == decode_lines(feed)


def test_replay_binaryfile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "day.itch"
    write_synthetic(feed, 3000, 4, 3)
    dump = tmp_path / "out.jsonl"
    assert call(["gateway", "run", "--line-a", "239.255.0.1:5001", "--replay", str(feed),
                 "--dump", str(dump), "--json"]) == 0
    assert dump.read_text().splitlines() == decode_lines(feed)
    assert json.loads(capsys.readouterr().out)["messages"] == 3000


@pytest.mark.parametrize("argv", [
    ["gateway", "run", "--line-a", "239.1.1.1"],
    ["gateway", "run", "--line-a", "239.1.1.1:99999"],
    ["gateway", "run", "--line-a", "nowhere:1"],
    ["gateway", "bench", "--loss", "2"],
    ["feed", "publish", "x", "--line-a", "239.1.1.1:1", "--rate", "-1"],
])
def test_bad_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv)
    assert exit_info.value.code == 2


def test_publish_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["feed", "publish", "--line-a", "239.255.0.1:5001"]) == 2
    assert "FILE or --synthetic" in capsys.readouterr().err


def test_unreadable_feed_is_a_usage_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff" * 10)
    assert call(["feed", "publish", str(bad), "--line-a", "239.255.0.1:5001"]) == 2
    assert call(["gateway", "run", "--line-a", "239.255.0.1:5001", "--replay", str(bad)]) == 2
    assert "not a pcap" in capsys.readouterr().err


def test_bench_small_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["gateway", "bench", "--messages", "20000", "--rate", "200000",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lost"] == 0 and result["messages"] == 20000
    for key in ("messages", "messages_per_s", "lost", "recovered", "p50_us", "p99_us"):
        assert key in result


def test_no_end_of_session_within_the_duration_fails(lines: tuple[Endpoint, Endpoint],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = call(["gateway", "run", "--line-a", str(lines[0]), "--exit-on-end-of-session",
                 "--duration", "0.3"])
    err = capsys.readouterr().err
    assert code == 1 and "no end of session within --duration 0.3 s" in err
    assert "0 messages applied" in err
    assert call(["gateway", "run", "--line-a", str(lines[0]), "--duration", "0.3"]) == 0
