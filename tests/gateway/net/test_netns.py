"""The gateway across a real (virtual) network: two network namespaces joined by a veth pair.

The exchange (publisher + rewinder) runs in one namespace, the gateway in
the other (the exchange starts once the gateway has joined the lines);
multicast leaves the exchange's veth end by its route and is joined on the
gateway's end, and retransmission requests and answers cross the same link
unicast. Only the namespaces this module creates are ever
addressed. Every process is bounded in time (``--duration``, ``--linger``,
``timeout=``) and the namespaces (and with them the veth pair) are deleted
in a ``finally``, whatever happened.

Skipped, with the reason, where the sandbox cannot create namespaces (no
``ip``, not root, or ``ip netns add`` refused).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nanogate.sim.synth import write_synthetic

from .helpers import decode_lines

STEP_TIMEOUT = 10  # seconds for one `ip` command
RUN_TIMEOUT = 60  # seconds for a gateway or exchange process, whatever happens


@dataclass(frozen=True)
class Link:
    """Two namespaces and the addresses of their veth ends (a /30 of their own)."""

    exchange_ns: str
    gateway_ns: str
    exchange_ip: str
    gateway_ip: str


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=STEP_TIMEOUT,
                          check=False)


def _must(*args: str) -> None:
    done = _ip(*args)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _why_not() -> str | None:
    """Why this sandbox cannot create network namespaces, or None when it can."""
    if shutil.which("ip") is None:
        return "`ip` (iproute2) not found"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN)"
    probe = f"ngprobe{os.getpid()}"
    done = _ip("netns", "add", probe)
    if done.returncode:
        return f"`ip netns add` refused: {done.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    octet = 1 + os.getpid() % 250
    found = Link(f"ngx{tag}", f"ngg{tag}", f"10.213.{octet}.1", f"10.213.{octet}.2")
    veth_x, veth_g = f"ngvx{tag}", f"ngvg{tag}"  # under IFNAMSIZ (15)
    try:
        for ns in (found.exchange_ns, found.gateway_ns):
            _must("netns", "add", ns)
            _must("-n", ns, "link", "set", "lo", "up")
        _must("-n", found.exchange_ns, "link", "add", veth_x, "type", "veth", "peer", "name",
              veth_g, "netns", found.gateway_ns)
        for ns, veth, address in ((found.exchange_ns, veth_x, found.exchange_ip),
                                  (found.gateway_ns, veth_g, found.gateway_ip)):
            _must("-n", ns, "addr", "add", f"{address}/30", "dev", veth)
            _must("-n", ns, "link", "set", veth, "multicast", "on")
            _must("-n", ns, "link", "set", veth, "up")
            _must("-n", ns, "route", "add", "224.0.0.0/4", "dev", veth)  # multicast routing
        yield found
    finally:
        _remove(found.exchange_ns, found.gateway_ns)


def _remove(*names: str) -> None:
    """Delete the namespaces (and so the veth pair), ending what still runs in them first.

    Only processes inside these namespaces (all started here) are ended, by
    pid; a name can stay busy a moment after its last process, so deleting is
    retried for a few seconds, then the test errors out naming what is left.
    """
    deadline = time.monotonic() + 5
    while True:
        for ns in names:
            for pid in _ip("netns", "pids", ns).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", ns)
        listed = _ip("netns", "list").stdout.split()
        left = [ns for ns in names if ns in listed]
        if not left:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"network namespaces not removed: {left}")
        time.sleep(0.1)


def _nanogate(ns: str, *argv: str) -> list[str]:
    """A ``nanogate`` command line run inside namespace ``ns``."""
    code = "import sys; from nanogate.cli import main; sys.exit(main(sys.argv[1:]))"
    return ["ip", "netns", "exec", ns, sys.executable, "-c", code, *argv]


@dataclass
class Ran:
    code: int
    out: str  # stdout
    log: str  # stderr


def _run_pair(link: Link, tmp_path: Path, publish: list[str], gateway: list[str]
              ) -> tuple[Ran, Ran]:
    """Start the gateway, then the exchange; both bounded, both killed on the way out."""
    files = {name: tmp_path / name for name in ("g.out", "g.err", "x.out", "x.err")}
    with (open(files["g.out"], "w") as g_out, open(files["g.err"], "w") as g_err,
          open(files["x.out"], "w") as x_out, open(files["x.err"], "w") as x_err):
        g = subprocess.Popen(_nanogate(link.gateway_ns, *gateway, "--metrics-port", "0"),
                             stdout=g_out, stderr=g_err)
        try:
            _wait_ready(g, files["g.err"])
            x = subprocess.Popen(_nanogate(link.exchange_ns, *publish), stdout=x_out,
                                 stderr=x_err)
            try:
                g_code = g.wait(timeout=RUN_TIMEOUT)
                x_code = x.wait(timeout=RUN_TIMEOUT)
            finally:
                if x.poll() is None:
                    x.kill()
                    x.wait(timeout=STEP_TIMEOUT)
        finally:
            if g.poll() is None:
                g.kill()
                g.wait(timeout=STEP_TIMEOUT)
    text = {name: path.read_text() for name, path in files.items()}
    return (Ran(g_code, text["g.out"], text["g.err"]),
            Ran(x_code, text["x.out"], text["x.err"]))


def _wait_ready(gateway: subprocess.Popen[bytes], log: Path) -> None:
    """Until the gateway says it serves metrics (it has joined the lines by then)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while "metrics on" not in log.read_text():
        if gateway.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"gateway not ready (exit {gateway.poll()}): {log.read_text()!r}")
        time.sleep(0.05)


def _summary(ran: Ran) -> dict[str, Any]:
    try:
        summary: dict[str, Any] = json.loads(ran.out)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON summary (exit {ran.code}): {ran.out!r} {ran.log!r}")
    return summary


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("netns") / "day.pcap"
    write_synthetic(path, 20_000, 8, 11)
    return path


@pytest.mark.parametrize("inline", [False, True], ids=["rx-process", "inline-rx"])
def test_gateway_across_veth_recovers_loss_and_dumps_feed_decode(
        link: Link, feed: Path, tmp_path: Path, inline: bool) -> None:
    lines = ("239.193.7.1:41001", "239.193.7.2:41002")
    rewinder = f"{link.exchange_ip}:41010"
    dump = tmp_path / "out.jsonl"
    publish = ["feed", "publish", str(feed), "--line-a", lines[0], "--line-b", lines[1],
               "--interface", link.exchange_ip, "--rate", "200000", "--loss", "0.15",
               "--dup", "0.02", "--reorder", "0.02", "--rewinder-listen", rewinder,
               "--linger", "5"]
    gateway = ["gateway", "run", "--line-a", lines[0], "--line-b", lines[1],
               "--interface", link.gateway_ip, "--rewinder", rewinder, "--dump", str(dump),
               "--exit-on-end-of-session", "--duration", "40", "--json",
               "--max-retries", "10"] + (["--inline-rx"] if inline else [])
    g, x = _run_pair(link, tmp_path, publish, gateway)
    assert x.code == 0, x.log
    summary = _summary(g)
    assert g.code == 0, g.log
    assert summary["state"] == "ended" and summary["lost"] == 0
    assert summary["messages"] == 20_000 and summary["duplicates"] > 0, json.dumps(summary)
    assert summary["recovered"] > 0  # 15 % loss a line: both lose some, the rewinder answers
    assert summary["rx_errors"] == 0 and summary["malformed"] == 0
    assert dump.read_text().splitlines() == decode_lines(feed)


def test_rewinder_off_across_veth_reports_the_gaps_and_ends(
        link: Link, feed: Path, tmp_path: Path) -> None:
    """Both lines lose, the rewinder never answers: bounded retries, gaps reported, no hang."""
    lines = ("239.193.8.1:42001", "239.193.8.2:42002")
    publish = ["feed", "publish", str(feed), "--line-a", lines[0], "--line-b", lines[1],
               "--interface", link.exchange_ip, "--rate", "200000", "--loss", "0.3",
               "--rewinder-listen", f"{link.exchange_ip}:42010", "--rewinder-off",
               "--linger", "5"]
    gateway = ["gateway", "run", "--line-a", lines[0], "--line-b", lines[1],
               "--interface", link.gateway_ip, "--rewinder", f"{link.exchange_ip}:42010",
               "--exit-on-end-of-session", "--duration", "40", "--json",
               "--request-timeout-ms", "20", "--max-retries", "2"]
    g, x = _run_pair(link, tmp_path, publish, gateway)
    assert x.code == 0, x.log
    summary = _summary(g)
    assert g.code == 1, g.log  # messages were lost: the exit status says so
    assert summary["state"] == "ended" and summary["recovered"] == 0
    assert summary["gap_events"] > 0 and summary["lost"] > 0
    assert summary["messages"] + summary["lost"] == 20_000
    # each gap asked for at most 1 + --max-retries times, then declared lost
    assert summary["retries"] > 0 and summary["requests"] <= 3 * summary["gap_events"]
