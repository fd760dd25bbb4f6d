"""``--device`` / ``--device-option`` (gateway/device/options.py): parsing, the checks of the
machine with their messages, and the commands that take them, end to end on the ``aws``
backend with temporary files standing in for the BARs."""

from __future__ import annotations

import argparse
import io
import json
import sys
import types
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from nanogate.cli import build_parser, main
from nanogate.control import serve
from nanogate.gateway.device import DeviceError, aws
from nanogate.gateway.device.options import (
    DEVICES,
    add_device_arguments,
    check_device,
    checked_options,
    device_options,
)
from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.bench import BenchConfig
from nanogate.gateway.net.runner import Gateway, GatewayConfig
from nanogate.gateway.risk.limits import limits_writes, load_limits
from nanogate.proto import aws_map
from nanogate.proto.itch import encode_message
from nanogate.proto.moldudp64 import encode_packet
from nanogate.proto.regmap import WORD_BYTES
from nanogate.proto.risk import RISK_REGMAP

from .aws_bars import FakeBars


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_device_arguments(parser)
    return parser.parse_args(list(argv))


def test_parsing() -> None:
    assert DEVICES == ("software", "rtl-sim", "aws", "pynq")
    args = parse()
    assert (args.device, args.device_options) == ("software", [])
    args = parse("--device", "aws", "--device-option", "bdf=0000:34:00.0",
                 "--device-option", "timeout_s=0.5")
    assert device_options(args.device, args.device_options) == {"bdf": "0000:34:00.0",
                                                                "timeout_s": 0.5}
    args = parse("--device", "aws", "--device-option", "slot=1")
    assert device_options("aws", args.device_options) == {"slot": 1}
    args = parse("--device", "pynq", "--device-option", "bitstream=a=b.bit")
    assert device_options("pynq", args.device_options) == {"bitstream": "a=b.bit"}


@pytest.mark.parametrize("bad", ["nokey", "=x"])
def test_malformed_option_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--device", "aws", "--device-option", bad)
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_option_errors() -> None:
    with pytest.raises(DeviceError, match="the software device takes no options"):
        device_options("software", [("bdf", "x")])
    with pytest.raises(DeviceError, match=r"the aws device takes bdf, slot, ocl, pcis"):
        device_options("aws", [("bitstream", "x.bit")])
    with pytest.raises(DeviceError, match=r"slot=9: FPGA slots are numbered 0\.\.7"):
        device_options("aws", [("slot", "9")])
    with pytest.raises(DeviceError, match=r"timeout_s=0: 0\.0 must be > 0"):
        device_options("pynq", [("timeout_s", "0")])
    for bad in (("slot", "x"), ("timeout_s", "soon")):
        with pytest.raises(DeviceError) as error:
            device_options("aws", [bad])
        assert "invalid literal" not in str(error.value) and f"{bad[0]}={bad[1]}: " in str(
            error.value)
    with pytest.raises(DeviceError, match="given twice"):
        device_options("aws", [("bdf", "a"), ("bdf", "b")])


def fake_sysfs(root: Path, functions: dict[str, tuple[int, int]]) -> Path:
    for bdf, (vendor, device) in functions.items():
        (root / bdf).mkdir(parents=True)
        (root / bdf / "vendor").write_text(f"{vendor:#06x}\n")
        (root / bdf / "device").write_text(f"{device:#06x}\n")
    return root


def test_aws_without_the_bar_files_says_where_it_looked(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sysfs = fake_sysfs(tmp_path / "sys", {"0000:00:1e.0": (0x1D0F, 0x1041)})  # mgmt PF
    monkeypatch.setattr(aws, "SYSFS_PCI", sysfs)
    with pytest.raises(DeviceError, match=r"no PCI function under .*sys has vendor 0x1d0f, "
                                          r"device 0xf000.*needs bdf="):
        check_device("aws", {})
    with pytest.raises(DeviceError) as caught:
        check_device("aws", {"bdf": "0000:34:00.0"})
    message = str(caught.value)
    assert f"no OCL BAR0 resource file at {sysfs}/0000:34:00.0/resource0" in message
    assert "--device-option bdf=DOMAIN:BUS:DEV.FN" in message
    assert "nanogate deploy aws load" in message and "--device-option slot=N" in message
    with pytest.raises(DeviceError, match="needs both ocl= and pcis="):
        check_device("aws", {"ocl": "x"})


def test_aws_finds_the_one_afi_by_its_pci_ids(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sysfs = fake_sysfs(tmp_path / "sys", {"0000:00:1e.0": (0x1D0F, 0x1041),
                                          "0000:34:00.0": (0x1D0F, 0xF000)})
    (sysfs / "0000:34:00.0" / "resource0").write_bytes(bytes(0x4000))
    (sysfs / "0000:34:00.0" / "resource4").write_bytes(bytes(0x60000))
    monkeypatch.setattr(aws, "SYSFS_PCI", sysfs)
    assert aws.find_afis() == ["0000:34:00.0"]
    root = sysfs / "0000:34:00.0"  # found, files present: opened by path from here on
    assert check_device("aws", {"timeout_s": 2.0}) == {
        "timeout_s": 2.0, "ocl": str(root / "resource0"), "pcis": str(root / "resource4")}
    fake_sysfs(sysfs, {"0000:36:00.0": (0x1D0F, 0xF000)})
    with pytest.raises(DeviceError, match=r"several: 0000:34:00\.0, 0000:36:00\.0"):
        check_device("aws", {})


def test_aws_slot_reads_the_address_from_the_sdk_tool(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "bin" / "fpga-describe-local-image"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n"
                    "echo 'AFI 1 agfi-0123456789abcdef0 loaded 0 ok 0 0x04261818'\n"
                    "echo 'AFIDEVICE 1 0x1d0f 0xf000 0000:36:00.0'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tool.parent))
    assert aws.bar_paths({"slot": 1})[0] == aws.SYSFS_PCI / "0000:36:00.0" / "resource0"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(DeviceError, match="slot=1: cannot find its PCI address"):
        aws.bar_paths({"slot": 1})


def test_pynq_without_the_package_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(DeviceError, match=r"pip install 'nanogate\[pynq\]'"):
        check_device("pynq", {"bitstream": "nanogate.bit"})
    check_device("pynq", {"replay": "t.jsonl"})  # a transcript needs no pynq
    monkeypatch.setitem(sys.modules, "pynq", types.ModuleType("pynq"))
    with pytest.raises(DeviceError, match=r"--device-option bitstream=PATH/nanogate\.bit"):
        check_device("pynq", {})
    check_device("pynq", {"bitstream": "nanogate.bit"})


def test_every_command_offers_the_backends() -> None:
    top = build_parser()
    for argv in (["risk", "check", "--orders", "o", "--limits", "l"],
                 ["feed", "decode", "f"],
                 ["gateway", "run", "--line-a", "239.1.1.1:5001"],
                 ["gateway", "bench"],
                 ["serve"]):
        args = top.parse_args([*argv, "--device", "pynq", "--device-option", "replay=x"])
        assert (args.device, args.device_options) == ("pynq", [("replay", "x")]), argv
    serve_parser = argparse.ArgumentParser()
    serve.add_arguments(serve_parser)
    args = serve_parser.parse_args(["--device", "aws", "--device-option", "bdf=0000:34:00.0"])
    assert device_options(args.device, args.device_options) == {"bdf": "0000:34:00.0"}


def test_gateway_passes_device_options_to_its_device(tmp_path: Path) -> None:
    assert checked_options("software", []) == {}
    bars = FakeBars(tmp_path)
    args = parse(*bars.argv("--device-option", "timeout_s=0.05"))
    options = checked_options(args.device, args.device_options)
    assert options == {"ocl": str(bars.ocl), "pcis": str(bars.pcis), "timeout_s": 0.05}
    gateway = Gateway(GatewayConfig(Endpoint("239.255.0.1", 5001), device="aws",
                                    device_options=options))
    # the parser works on the files given: a packet lands framed in its window
    with pytest.raises(DeviceError, match=r"within 0\.05 s"):
        gateway.parser.push([encode_packet("S", 1)])
    frame = bars.pcis.read_bytes()[aws_map.PACKET_WINDOW:aws_map.PACKET_WINDOW + 8]
    assert frame[4:8] == b"NGPK"
    assert BenchConfig(device="aws", device_options=options).device_options["timeout_s"] == 0.05


# --- end to end on the aws backend, files standing in for the BARs ---------------------

LIMITS = """\
global: {kill_switch: true}
instruments:
  - {stock_locate: 3, reference_price: 1500000, collar_bps: 500, max_qty: 10000,
     max_notional: 10000000000, max_long: 50000, max_short: 50000, restricted: false,
     halted: false}
accounts:
  - {account: 2, credit_limit: 50000000000, rate_per_s: 1000, burst: 50, halted: false,
     reduce_only: false}
"""


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_risk_check_on_aws_writes_the_limits_into_the_bar(tmp_path: Path) -> None:
    bars = FakeBars(tmp_path)
    sizes = 4 | 4 << 8  # 16 instruments, 16 accounts
    bars.poke(aws_map.OCL_RISK_BASE + RISK_REGMAP.offset("table_sizes"), sizes)
    (tmp_path / "limits.yaml").write_text(LIMITS)
    (tmp_path / "orders.csv").write_text("client_order_id,account,stock_locate,side,"
                                         "quantity,price\n")
    code, out, err = run_main("risk", "check", "--orders", str(tmp_path / "orders.csv"),
                              "--limits", str(tmp_path / "limits.yaml"), *bars.argv())
    assert (code, out) == (0, ""), err
    last: dict[str, int] = {}
    for name, value in limits_writes(load_limits(tmp_path / "limits.yaml"), 16, 16):
        last[name] = value
    for name, value in last.items():  # each register holds the last value written to it
        register = RISK_REGMAP.register(name)
        address = aws_map.OCL_RISK_BASE + RISK_REGMAP.offset(name)
        got = sum(bars.peek(address + word * WORD_BYTES) << (32 * word)
                  for word in range(register.words))
        assert got == value, name
    assert last["kill_switch"] == 1

    # an order needs the custom logic to count it: files cannot, and the error says so
    (tmp_path / "orders.csv").write_text("client_order_id,account,stock_locate,side,"
                                         "quantity,price\n1,2,3,buy,100,1500000\n")
    code, out, err = run_main("risk", "check", "--orders", str(tmp_path / "orders.csv"),
                              "--limits", str(tmp_path / "limits.yaml"),
                              *bars.argv("--device-option", "timeout_s=0.05"))
    assert code == 2 and out == ""
    assert "orders did not reach 1 within 0.05 s" in err
    assert "a file standing in for a BAR never does" in err


def test_feed_decode_on_aws_against_files_fails_clearly(tmp_path: Path) -> None:
    bars = FakeBars(tmp_path)
    message = encode_message({"type": "D", "stock_locate": 4, "tracking_number": 0,
                              "timestamp": 9, "order_reference_number": 77})
    feed = tmp_path / "small.itch"
    feed.write_bytes(len(message).to_bytes(2, "big") + message)
    code, out, _ = run_main("feed", "decode", str(feed))
    assert code == 0 and json.loads(out)["order_reference_number"] == 77
    code, out, err = run_main("feed", "decode", str(feed),
                              *bars.argv("--device-option", "timeout_s=0.05"))
    assert code == 1 and out == ""
    assert "nanogate: aws: packets did not reach 1 within 0.05 s" in err
    assert "a file standing in for a BAR never does" in err
    # the packet reached its window, framed
    frame = bars.pcis.read_bytes()[aws_map.PACKET_WINDOW:aws_map.PACKET_WINDOW + 8]
    assert frame[4:8] == b"NGPK"
    code, _, err = run_main("feed", "decode", str(feed), "--device", "aws",
                            "--device-option", "bdf=0000:99:00.0")
    assert code == 1 and "no OCL BAR0 resource file at /sys/bus/pci/devices/0000:99" in err
