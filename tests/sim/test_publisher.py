"""The publisher: packets on both lines, seeded faults, heartbeats and end of session."""

from __future__ import annotations

import argparse
import os
import random
import socket
import time
from pathlib import Path

import pytest

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.sockets import open_receiver
from nanogate.proto import binaryfile
from nanogate.proto.moldudp64 import decode_packet
from nanogate.sim.publisher import (
    LineFaults,
    Publisher,
    PublisherConfig,
    packets,
    store_from_blocks,
    store_from_file,
    store_from_synthetic,
)


def lines() -> tuple[Endpoint, Endpoint]:
    rng = random.Random(os.getpid() ^ random.getrandbits(32))
    a, b = rng.randrange(1, 255), rng.randrange(1, 255)
    port = rng.randrange(20000, 60000)
    return Endpoint(f"239.255.{a}.{b}", port), Endpoint(f"239.255.{b}.{a}", port + 1)


def drain(sock: socket.socket, quiet: float = 0.3, limit: float = 5.0) -> list[bytes]:
    sock.setblocking(True)
    sock.settimeout(quiet)
    out: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            out.append(sock.recv(65536))
        except TimeoutError:
            break
    return out


def test_packets_hold_every_message_once() -> None:
    msgs = [bytes([65 + i % 26]) * (5 + i % 40) for i in range(2000)]
    store = store_from_blocks(binaryfile.encode(msgs))
    cut = packets(store, max_payload=300, max_messages=7)
    decoded = [decode_packet(p) for _, _, p in cut]
    assert [m for p in decoded for m in p.messages] == msgs
    assert all(len(p) <= 300 and c <= 7 for _, c, p in cut)
    assert [s for s, _, _ in cut] == [p.sequence_number for p in decoded]


def test_publishes_both_lines_with_seeded_faults() -> None:
    a, b = lines()
    store = store_from_synthetic(3000, 4, seed=2)
    rx_a, rx_b = open_receiver(a), open_receiver(b)
    config = PublisherConfig(a, b, faults_a=LineFaults(loss=0.2, dup=0.1, reorder=0.1),
                             rate=200_000)
    with Publisher(config, store) as publisher:
        stats = publisher.run()
    got_a, got_b = drain(rx_a), drain(rx_b)
    rx_a.close()
    rx_b.close()
    total = stats.packets
    assert stats.messages == 3000 and store.published == 3001
    assert len(got_b) == total + 1 + 3  # heartbeat + end of session x3
    line_a = stats.lines[0]
    assert 0 < line_a.dropped < total * 0.35 and line_a.duplicated > 0 and line_a.reordered > 0
    assert len(got_a) <= line_a.packets + line_a.duplicated + line_a.reordered + 4
    ends = [decode_packet(g) for g in got_b[-3:]]
    assert all(p.end_of_session and p.sequence_number == 3001 for p in ends)
    assert stats.seconds >= 3000 / 200_000 * 0.8  # paced


def test_store_from_files(tmp_path: Path) -> None:
    from nanogate.sim.synth import write_synthetic

    write_synthetic(tmp_path / "s.itch", 500, 3, 1)
    write_synthetic(tmp_path / "s.pcap", 500, 3, 1)
    flat = store_from_file(tmp_path / "s.itch")
    cap = store_from_file(tmp_path / "s.pcap")
    assert flat.data == cap.data and cap.session == "SYNTH00001"
    assert len(flat.starts) == 501


def test_bad_config_is_rejected() -> None:
    a, _ = lines()
    with pytest.raises(ValueError, match="loss"):
        LineFaults(loss=1.5)
    with pytest.raises(ValueError, match="rate"):
        PublisherConfig(a, rate=0)


def publish_args(*extra: str) -> argparse.Namespace:

    from nanogate.sim.publish_cli import register_feed

    parser = argparse.ArgumentParser()
    register_feed(parser.add_subparsers())
    return parser.parse_args(["publish", "--synthetic", "10", "--line-a", "239.1.1.1:5001",
                              "--line-b", "239.1.1.2:5002", *extra])


def test_line_b_takes_line_a_faults_unless_given_its_own() -> None:
    from nanogate.sim.publish_cli import line_faults

    a, b = line_faults(publish_args("--loss", "0.1", "--dup", "0.2", "--reorder", "0.3"))
    assert a == b == LineFaults(0.1, 0.2, 0.3)
    a, b = line_faults(publish_args("--loss", "0.1", "--dup", "0.2", "--reorder", "0.3",
                                    "--loss-b", "0", "--dup-b", "0.5", "--reorder-b", "0.01"))
    assert a == LineFaults(0.1, 0.2, 0.3) and b == LineFaults(0.0, 0.5, 0.01)


def test_out_of_range_line_b_fault_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        publish_args("--dup-b", "1.5")
    assert exit_info.value.code == 2 and "--dup-b" in capsys.readouterr().err
