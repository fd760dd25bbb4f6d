"""``nanogate deploy aws load`` against stand-in fpga-*-local-image tools on PATH."""

from __future__ import annotations

import argparse

import pytest

from nanogate.hw.deploy import aws, cli

from .conftest import StandIn

AGFI = "agfi-0fcf87119b8e97bf3"
HEADER = ("Type  FpgaImageSlot  FpgaImageId             StatusName    StatusCode   ErrorName    "
          "ErrorCode   ShVersion")
DESCRIBE = f"""{HEADER}
AFI          0       {AGFI}  loaded            0        OK               0       0x04261818
Type  FpgaImageSlot  VendorId    DeviceId    DBDF
AFIDEVICE    0       0x1d0f      0xf000      0000:00:1d.0"""


def _tools(stand_in: StandIn, describe: str = DESCRIBE, load_body: str = "exit 0") -> str:
    stand_in("fpga-clear-local-image", "exit 0")
    stand_in("fpga-load-local-image", load_body)
    log = stand_in("fpga-describe-local-image", f"cat <<'END'\n{describe}\nEND")
    return str(log)


def test_load_clears_loads_and_confirms(stand_in: StandIn) -> None:
    log = _tools(stand_in)
    said: list[str] = []
    status = aws.load(AGFI, 0, say=said.append)
    assert status == aws.SlotStatus(0, AGFI, "loaded", "OK", "0000:00:1d.0")
    with open(log) as calls:
        assert calls.read().splitlines() == [
            "fpga-clear-local-image -S 0",
            f"fpga-load-local-image -S 0 -I {AGFI}",
            "fpga-describe-local-image -S 0 -R -H",
        ]
    assert "loaded at PCI 0000:00:1d.0" in said[-1]


def test_load_refuses_an_afi() -> None:
    with pytest.raises(aws.AwsDeployError, match=r"is an AFI id: loading takes the global id"):
        aws.load("afi-0123456789abcdef0")


@pytest.mark.parametrize("image", ["agfi-XYZ", "", "0fcf87119b8e97bf3", "agfi-0f; rm -rf /"])
def test_load_refuses_a_malformed_id(image: str) -> None:
    with pytest.raises(aws.AwsDeployError, match="not an AGFI id"):
        aws.load(image)


def test_load_refuses_a_bad_slot() -> None:
    with pytest.raises(aws.AwsDeployError, match="slots are numbered"):
        aws.load(AGFI, 9)


def test_tool_failure_is_shown(stand_in: StandIn) -> None:
    _tools(stand_in, load_body='echo "Error: (19) afi-not-found" >&2; exit 19')
    with pytest.raises(aws.AwsDeployError,
                       match=r"load of slot 0 failed: .*exit status 19.*\n.*afi-not-found"):
        aws.load(AGFI, 0, say=lambda _: None)


def test_missing_tools_say_where_they_come_from(stand_in: StandIn) -> None:
    with pytest.raises(aws.AwsDeployError, match="not found on PATH: run this on an F2"):
        aws.load(AGFI, 0, say=lambda _: None)


def test_load_not_confirmed(stand_in: StandIn) -> None:
    _tools(stand_in, DESCRIBE.replace("loaded  ", "cleared ").replace(" OK ", " BUSY "))
    with pytest.raises(aws.AwsDeployError, match=f"cleared .*not {AGFI} loaded"):
        aws.load(AGFI, 0, say=lambda _: None)


def test_describe_without_a_row(stand_in: StandIn) -> None:
    _tools(stand_in, "nothing here")
    with pytest.raises(aws.AwsDeployError, match="no AFI row for slot 0"):
        aws.load(AGFI, 0, say=lambda _: None)


def test_cli_load(stand_in: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    _tools(stand_in)
    parser = argparse.ArgumentParser(prog="nanogate")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deploy", "aws", "load", "--agfi", AGFI])
    assert args.handler(args) == 0
    args = parser.parse_args(["deploy", "aws", "load", "--agfi", "afi-0123456789abcdef0"])
    assert args.handler(args) == 1
    assert "AFI id" in capsys.readouterr().err
