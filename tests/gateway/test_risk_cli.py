"""The limits file, the orders CSV and ``nanogate risk check`` (software backend)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk import cli
from nanogate.gateway.risk.limits import (
    LimitsError,
    apply_limits,
    limits_writes,
    load_limits,
    parse_limits,
)
from nanogate.gateway.risk.orders import OrdersError, parse_orders

LIMITS = """\
global: {kill_switch: false}
instruments:            # prices in price(4) units, notional in price(4) x shares
  - {stock_locate: 1, reference_price: 1500000, collar_bps: 500, max_qty: 10000,
     max_notional: 10000000000, max_long: 50000, max_short: 50000, restricted: false,
     halted: false}
accounts:
  - {account: 7, credit_limit: 50000000000, rate_per_s: 1000, burst: 50, halted: false,
     reduce_only: false}
"""

ORDERS = """\
client_order_id,account,stock_locate,side,quantity,price,timestamp_ns,kind
1,7,1,buy,100,1500000,0,order
2,7,1,buy,10001,1500000,0,
3,7,2,sell,1,1500000,0,order
3,7,1,sell,1,1500000,0,order
1,7,1,buy,100,1500000,0,fill
4,8,1,sell_short,5,1600000,0,order
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nanogate")
    cli.register(top.add_subparsers(dest="command", required=True))
    return top


def run(tmp_path: Path, *extra: str, limits: str = LIMITS, orders: str = ORDERS) \
        -> tuple[int, str]:
    (tmp_path / "limits.yaml").write_text(limits)
    (tmp_path / "orders.csv").write_text(orders)
    args = parser().parse_args(["risk", "check", "--orders", str(tmp_path / "orders.csv"),
                                "--limits", str(tmp_path / "limits.yaml"), *extra])
    out = io.StringIO()
    code = args.handler(args, out)
    return code, out.getvalue()


def test_check_jsonl(tmp_path: Path) -> None:
    code, text = run(tmp_path)
    assert code == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows == [
        {"client_order_id": 1, "accepted": True, "reasons": []},
        {"client_order_id": 2, "accepted": False, "reasons": ["max_qty", "max_notional"]},
        {"client_order_id": 3, "accepted": False, "reasons": ["restricted"]},
        {"client_order_id": 3, "accepted": True, "reasons": []},
        {"client_order_id": 4, "accepted": False, "reasons": ["price_collar", "halted"]},
    ]


def test_check_table(tmp_path: Path) -> None:
    code, text = run(tmp_path, "-o", "table")
    lines = text.splitlines()
    assert code == 0 and "accepted" in lines[0]
    assert lines[2].split() == ["2", "no", "max_qty,max_notional"]
    assert lines[1].split() == ["1", "yes", "-"]


def test_default_entries_cover_unlisted(tmp_path: Path) -> None:
    limits = LIMITS + ("  - {account: default, credit_limit: 10, rate_per_s: 0, burst: 1,"
                       " halted: false, reduce_only: true}\n")
    code, text = run(tmp_path, limits=limits)
    assert code == 0
    last = json.loads(text.splitlines()[-1])
    assert last["reasons"] == ["price_collar", "credit", "reduce_only"]  # not halted


@pytest.mark.parametrize(("limits", "message"), [
    (LIMITS.replace("max_qty: 10000", "max_qty: 10000, fat_finger: 1"),
     r"instruments\[0\]: unknown key 'fat_finger'"),
    (LIMITS.replace("collar_bps: 500", "collar_bps: 70000"),
     r"instruments\[0\]: collar_bps: 70000 is out of range 0\.\.65535"),
    (LIMITS.replace("max_qty: 10000", "max_qty: -1"), r"max_qty: -1 is out of range"),
    (LIMITS.replace("burst: 50", "burst: 5.5"), r"accounts\[0\]: burst: expected an integer"),
    (LIMITS.replace("halted: false,\n     reduce", "halted: 0,\n     reduce"),
     r"accounts\[0\]: halted: expected true or false"),
    (LIMITS.replace(", burst: 50", ""), r"accounts\[0\]: missing key 'burst'"),
    (LIMITS.replace("account: 7", "account: 70000"), r"account: 70000 is neither"),
    (LIMITS.replace("kill_switch: false", "kill_switch: 1"), r"global: kill_switch"),
    (LIMITS.replace("global:", "globl:"), r"unknown key 'globl'"),
    (LIMITS + "  - {account: 7, credit_limit: 1, rate_per_s: 1, burst: 1, halted: false,"
              " reduce_only: false}\n", r"accounts\[1\]: account 7 listed twice"),
    ("instruments: 5\n", r"instruments: expected a list"),
    ("[1, 2]\n", r"expected a mapping at the top level"),
    ("global: {kill_switch: [\n", r"not valid YAML"),
])
def test_bad_limits_name_the_key(tmp_path: Path, limits: str, message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(limits)
    with pytest.raises(LimitsError, match=message):
        load_limits(path)
    code, text = run(tmp_path, limits=limits)
    assert code == 2 and text == ""
    assert "limits.yaml" in capsys.readouterr().err


def test_limits_outside_the_table_and_default_writes() -> None:
    limits = parse_limits({"instruments": [
        {"stock_locate": 20, "reference_price": 1, "collar_bps": 1, "max_qty": 1,
         "max_notional": 1, "max_long": 1, "max_short": 1, "restricted": False,
         "halted": False}]})
    with pytest.raises(LimitsError, match="stock_locate 20 is outside the table"):
        limits_writes(limits, 16, 16)
    engine = SoftwareRiskEngine(instruments=32, accounts=16)
    apply_limits(engine, limits)
    assert engine.check(1, 0, 20, 0, 1, 1) == (False, 1 << 8)  # listed, account 0 is not
    writes = limits_writes(parse_limits({"accounts": [
        {"account": "default", "credit_limit": 1, "rate_per_s": 1, "burst": 1,
         "halted": False, "reduce_only": False}]}), 16, 16)
    assert [value for name, value in writes if name == "acct_commit"] == list(range(16))


@pytest.mark.parametrize(("orders", "message"), [
    ("client_order_id,account,stock_locate,side,quantity\n1,7,1,buy,1\n",
     r"line 1: missing column\(s\) price"),
    ("client_order_id,account,stock_locate,side,quantity,price,venue\n",
     r"line 1: unknown column\(s\) venue"),
    (ORDERS + "9,7,1,hold,1,1,0,order\n",
     r"line 8: side: 'hold' is not one of buy, sell, sell_short"),
    (ORDERS + "9,7,1,buy,1,1.5,0,order\n", r"line 8: price: '1\.5' is not an integer"),
    (ORDERS + "9,7,1,buy,-1,1,0,order\n", r"line 8: quantity: -1 is out of range"),
    (ORDERS + "9,70000,1,buy,1,1,0,order\n", r"line 8: account: 70000 is out of range"),
    (ORDERS + "9,7,1,buy,1,1,0,amend\n", r"line 8: kind: 'amend' is not one of"),
    (ORDERS + "9,7,1,buy,1\n", r"line 8: expected 8 fields"),
    ("", r"empty file"),
])
def test_bad_orders_name_the_line(tmp_path: Path, orders: str, message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(OrdersError, match=message):
        parse_orders(orders, "orders.csv")
    code, _ = run(tmp_path, orders=orders)
    assert code == 2
    assert "orders.csv" in capsys.readouterr().err


def test_orders_without_optional_columns() -> None:
    ops = parse_orders("price,quantity,side,stock_locate,account,client_order_id\n"
                       "15,2,sell_short,3,4,5\n")
    assert (ops[0].kind, ops[0].side, ops[0].price, ops[0].timestamp_ns) == (0, 2, 15, 0)


def test_missing_files_are_usage_errors(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["risk", "check", "--orders", str(tmp_path / "none.csv"),
                                "--limits", str(tmp_path / "none.yaml")])
    assert args.handler(args, io.StringIO()) == 2
    assert "none.yaml: cannot read" in capsys.readouterr().err
