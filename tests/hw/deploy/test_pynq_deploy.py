"""``nanogate deploy pynq`` against stand-in ssh / scp on PATH."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nanogate.hw.deploy import cli, pynq

from .conftest import StandIn

SSH_OK = 'case "$*" in *pynq.Overlay*) echo "loaded $5"; echo "ip axi_dma_feed nanogate_0";; esac'


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    bit, hwh = tmp_path / "nanogate.bit", tmp_path / "design_1.hwh"
    bit.write_bytes(b"\x00bit")
    hwh.write_text("<xml/>")
    return bit, hwh


def test_deploy_copies_and_loads(stand_in: StandIn, files: tuple[Path, Path]) -> None:
    stand_in("scp", "exit 0")
    log = stand_in("ssh", SSH_OK)
    bit, hwh = files
    done = pynq.deploy("kv260.local", bit, hwh, say=lambda _: None)
    assert done.ip == ("axi_dma_feed", "nanogate_0")
    calls = log.read_text().splitlines()
    assert calls[0].startswith("ssh -o BatchMode=yes")
    assert "mkdir -p /home/xilinx/nanogate" in calls[0]
    assert calls[1].endswith(f"{bit} xilinx@kv260.local:/home/xilinx/nanogate/nanogate.bit")
    # the .hwh takes the bitstream's stem: pynq.Overlay looks for it beside the .bit
    assert calls[2].endswith(f"{hwh} xilinx@kv260.local:/home/xilinx/nanogate/nanogate.hwh")
    assert "sudo /usr/local/share/pynq-venv/bin/python3" in calls[3]


def test_unreachable_board(stand_in: StandIn, files: tuple[Path, Path]) -> None:
    stand_in("ssh", 'echo "ssh: connect to host kv260: No route to host" >&2; exit 255')
    with pytest.raises(pynq.PynqDeployError,
                       match=r"(?s)mkdir failed.*No route to host.*could not reach"):
        pynq.deploy("kv260", *files, say=lambda _: None)


def test_load_not_confirmed(stand_in: StandIn, files: tuple[Path, Path]) -> None:
    stand_in("scp", "exit 0")
    stand_in("ssh", "echo something else")
    with pytest.raises(pynq.PynqDeployError, match="did not confirm the load"):
        pynq.deploy("kv260", *files, say=lambda _: None)


def test_missing_scp(stand_in: StandIn, files: tuple[Path, Path]) -> None:
    stand_in("ssh", SSH_OK)
    with pytest.raises(pynq.PynqDeployError, match="scp not found on PATH"):
        pynq.deploy("kv260", *files, say=lambda _: None)


@pytest.mark.parametrize(("host", "user", "message"), [
    ("-oProxyCommand=x", "xilinx", "not a host"),
    ("kv 260", "xilinx", "not a host"),
    ("kv260", "root;id", "not a user"),
])
def test_bad_host_or_user(files: tuple[Path, Path], host: str, user: str, message: str) -> None:
    with pytest.raises(pynq.PynqDeployError, match=message):
        pynq.deploy(host, *files, user=user)


def test_bad_files(tmp_path: Path, files: tuple[Path, Path]) -> None:
    _, hwh = files
    with pytest.raises(pynq.PynqDeployError, match=r"expected a \.bit"):
        pynq.deploy("kv260", hwh, hwh)
    with pytest.raises(pynq.PynqDeployError, match="no such file"):
        pynq.deploy("kv260", tmp_path / "none.bit", hwh)


def test_cli(stand_in: StandIn, files: tuple[Path, Path],
             capsys: pytest.CaptureFixture[str]) -> None:
    stand_in("scp", "exit 0")
    stand_in("ssh", SSH_OK)
    parser = argparse.ArgumentParser(prog="nanogate")
    cli.register(parser.add_subparsers(dest="command", required=True))
    bit, hwh = files
    args = parser.parse_args(["deploy", "pynq", "--host", "kv260", "--bitstream", str(bit),
                              "--hwh", str(hwh)])
    assert args.handler(args) == 0
    assert "loaded" in capsys.readouterr().out
    args = parser.parse_args(["deploy", "pynq", "--host", "kv260", "--bitstream", str(hwh),
                              "--hwh", str(hwh)])
    assert args.handler(args) == 1
