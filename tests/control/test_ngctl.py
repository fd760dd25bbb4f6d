"""Every ngctl command against a real server on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

Ctl = Any
Harness = Any
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


def setup_market(ctl: Ctl) -> None:
    assert ctl("symbols", "AAPL=1", "MSFT=2")[0] == 0
    code, out, err = ctl("limits", "set", "--instrument", "AAPL", "--reference-price",
                         "1500000", "--collar-bps", "500", "--max-qty", "10000",
                         "--max-notional", "100000000000", "--max-long", "50000",
                         "--max-short", "50000", role="risk")
    assert code == 0, err
    assert "AAPL" in out
    assert ctl("limits", "set", "--account", "3", "--credit-limit", "1000000000000",
               "--rate", "1000", "--burst", "100", role="risk")[0] == 0


def test_help_and_usage(ctl: Ctl) -> None:
    code, _, err = ctl("halt", "--reason", "x", "--yes")
    assert code == 2 and "exactly one" in err
    assert ctl("frobnicate")[0] == 2


def test_halt_then_order_rejected_with_halted(ctl: Ctl) -> None:
    setup_market(ctl)
    order = ("check-order", "--id", "1", "--account", "3", "--instrument", "AAPL",
             "--side", "buy", "--qty", "100", "--price", "1500000")
    code, out, _ = ctl(*order, role="risk")
    assert code == 0 and "accepted" in out
    code, out, err = ctl("halt", "--instrument", "AAPL", "--reason", "news", "--yes",
                         role="risk")
    assert code == 0, err
    code, out, _ = ctl("check-order", "--id", "2", *order[3:], role="risk")
    assert code == 1 and "rejected: halted" in out
    assert ctl("resume", "--instrument", "AAPL", role="risk")[0] == 0
    assert ctl("check-order", "--id", "3", *order[3:], role="risk")[0] == 0
    # global kill switch and account halt
    assert ctl("halt", "--all", "--reason", "drill", "--yes")[0] == 0
    code, out, _ = ctl("check-order", "--id", "4", *order[3:], role="risk")
    assert "halted" in out
    code, out, _ = ctl("get", "halts", "-o", "json")
    assert json.loads(out)["kill_switch"] is True
    assert ctl("resume", "--all")[0] == 0
    assert ctl("halt", "--account", "3", "--reason", "ops", "--yes")[0] == 0
    assert "halted" in ctl("check-order", "--id", "5", *order[3:], role="risk")[1]


def test_strategies_apply_get_describe_delete(ctl: Ctl, tmp_path: Path) -> None:
    ctl("symbols", "AAPL=1", "MSFT=2")
    spec = str(EXAMPLES / "mm-aapl.yaml")
    code, out, err = ctl("apply", "-f", spec, "--dry-run", role="trader")
    assert code == 0 and "valid (dry run)" in out, err
    assert ctl("get", "strategies", "-o", "json")[1].strip() == "[]"
    assert "created" in ctl("apply", "-f", spec, role="trader")[1]
    assert "unchanged" in ctl("apply", "-f", spec, role="trader")[1]
    code, out, _ = ctl("get", "strategies")
    assert "mm-aapl" in out and "market-making" in out
    got = yaml.safe_load(ctl("get", "strategy", "mm-aapl", "-o", "yaml")[1])
    assert got["account"] == 7 and got["limits"]["credit_limit"] == "100000000000"
    limits = json.loads(ctl("get", "limits", "--account", "7", "-o", "json")[1])
    assert limits["accounts"][0]["source"] == "strategy/mm-aapl"
    described = yaml.safe_load(ctl("describe", "strategy", "mm-aapl")[1])
    assert described["spec"]["spec"]["frequency"] == "ultra-high"
    assert ctl("get", "strategy", "nope")[0] == 4
    assert ctl("delete", "strategy", "mm-aapl")[0] == 2  # no TTY, no --yes
    assert ctl("delete", "strategy", "mm-aapl", "--yes", role="trader")[0] == 0
    assert ctl("delete", "strategy", "mm-aapl", "--yes", role="trader")[0] == 4


def test_bad_spec_names_fields(ctl: Ctl, tmp_path: Path) -> None:
    ctl("symbols", "AAPL=1")
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "mm-aapl.yaml").read_text()
                   .replace('"10M"', '"10X"').replace("account: 7", "account: 99\n  colour: red"))
    code, _, err = ctl("apply", "-f", str(bad), role="trader")
    assert code == 1
    assert 'spec.maxPositionSize: expected a notional such as "10M"' in err
    assert 'spec.colour: expected no unknown field' in err
    good_fields = (EXAMPLES / "mm-aapl.yaml").read_text().replace("account: 7", "account: 99")
    bad.write_text(good_fields)
    code, _, err = ctl("apply", "-f", str(bad), role="trader")
    assert code == 1 and "spec.account: expected an account in 0..15, found 99" in err
    assert "spec.instruments[1]" in err  # MSFT is not in the directory


def test_strategy_params_are_checked_by_the_strategy_type(ctl: Ctl, tmp_path: Path) -> None:
    ctl("symbols", "AAPL=1", "MSFT=2")
    spec = tmp_path / "mm.yaml"
    text = (EXAMPLES / "mm-aapl.yaml").read_text()
    spec.write_text(text.replace("params: {}", "params: {spread_bps: -1, colour: red}"))
    code, _, err = ctl("apply", "-f", str(spec), role="trader")
    assert code == 1
    assert "spec.params.spread_bps: expected a number in 0.01..10,000" in err and "found -1" in err
    assert "spec.params.colour" in err and "unknown field" in err
    spec.write_text(text.replace("type: market-making", "type: arbitrage"))
    code, _, err = ctl("apply", "-f", str(spec), role="trader")
    assert code == 1 and "not implemented in this release" in err
    spec.write_text(text.replace("params: {}", "params: {spread_bps: 4, quote_size: 200}"))
    assert ctl("apply", "-f", str(spec), role="trader")[0] == 0


def test_out_of_range_limits(ctl: Ctl) -> None:
    ctl("symbols", "AAPL=1")
    code, _, err = ctl("limits", "set", "--instrument", "AAPL", "--collar-bps", "70000",
                       role="risk")
    assert code == 1 and "limits.collar_bps: expected 0..65535, found 70000" in err
    code, _, err = ctl("limits", "set", "--instrument", "ZZZZ", "--max-qty", "1", role="risk")
    assert code == 4 and "unknown symbol" in err
    code, _, err = ctl("limits", "set", "--account", "99", "--burst", "1", role="risk")
    assert code == 1 and "outside the account table" in err


def test_roles_and_authentication(ctl: Ctl) -> None:
    assert ctl("get", "strategies", role=None)[0] == 3
    code, _, err = ctl("halt", "--all", "--reason", "x", "--yes", role="viewer")
    assert code == 3 and "needs admin or risk" in err
    assert ctl("halt", "--all", "--reason", "x", "--yes", role="trader")[0] == 3
    assert ctl("apply", "-f", str(EXAMPLES / "mm-aapl.yaml"), role="risk")[0] == 3
    assert ctl("get", "halts", role="viewer")[0] == 0
    code = ctl("--token", "wrong-token-that-is-long", "status", role=None)[0]
    assert code == 3


def test_reduce_only_cancel_exposure_status_events(ctl: Ctl) -> None:
    setup_market(ctl)
    for coid, side in ((10, "buy"), (11, "buy"), (12, "sell")):
        assert ctl("check-order", "--id", str(coid), "--account", "3", "--instrument", "AAPL",
                   "--side", side, "--qty", "10", "--price", "1500000", role="risk")[0] == 0
    exposure = json.loads(ctl("get", "exposure", "-o", "json")[1])
    aapl = next(i for i in exposure["instruments"] if i["symbol"] == "AAPL")
    assert aapl["open_buy"] == "20" and aapl["open_sell"] == "10"
    assert ctl("cancel-all", "--account", "3", "--side", "buy")[0] == 2  # no TTY
    code, out, _ = ctl("cancel-all", "--account", "3", "--side", "buy", "--yes", role="risk")
    assert code == 0 and "2 order(s) cancelled" in out
    exposure = json.loads(ctl("get", "exposure", "AAPL", "-o", "json")[1])
    assert exposure["instruments"][0]["open_buy"] == "0"
    assert ctl("reduce-only", "--account", "3", role="risk")[0] == 0
    code, out, _ = ctl("check-order", "--id", "13", "--account", "3", "--instrument", "AAPL",
                       "--side", "buy", "--qty", "10", "--price", "1500000", role="risk")
    assert "reduce_only" in out
    assert "3" in ctl("get", "halts")[1]
    assert ctl("reduce-only", "--account", "3", "--off", role="risk")[0] == 0
    code, out, _ = ctl("status", "-o", "json")
    status = json.loads(out)
    assert status["device"] == "software"
    assert int(status["risk_counters"]["reject_reduce_only"]) == 1
    assert "COUNTER" in ctl("status")[1]
    code, out, _ = ctl("events", "--type", "risk_reject", "-o", "json")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["risk_reject"]
    code, out, _ = ctl("events", "--since", "2", "--limit", "2")
    assert len(out.splitlines()) == 2
    assert ctl("events", "--type", "nonsense")[0] == 1
    assert "AAPL" in ctl("get", "symbols")[1]
    assert "set_instrument_limits" in ctl("get", "audit")[1]


def test_restart_keeps_state_and_chain(harness: Harness, ctl: Ctl) -> None:
    setup_market(ctl)
    ctl("apply", "-f", str(EXAMPLES / "mm-aapl.yaml"), role="trader")  # MSFT unknown: refused
    ctl("symbols", "MSFT=2")
    assert ctl("apply", "-f", str(EXAMPLES / "mm-aapl.yaml"), role="trader")[0] == 0
    assert ctl("halt", "--instrument", "MSFT", "--reason", "news", "--yes")[0] == 0
    assert ctl("reduce-only", "--account", "7", "--reason", "drawdown", role="risk")[0] == 0
    assert ctl("check-order", "--id", "9", "--account", "7", "--instrument", "AAPL",
               "--side", "buy", "--qty", "1", "--price", "1500000", role="risk")[0] == 1
    views = [("get", "audit", "-o", "json"), ("get", "limits", "-o", "json"),
             ("get", "halts", "-o", "json"), ("get", "strategies", "-o", "json"),
             ("get", "symbols", "-o", "json")]
    before = [ctl(*view)[1] for view in views]
    limits = json.loads(before[1])
    assert [i["symbol"] for i in limits["instruments"]] == ["AAPL"]
    assert limits["instruments"][0]["max_qty"] == "10000"
    assert {a["account"]: a["source"] for a in limits["accounts"]} == {
        3: "limits", 7: "strategy/mm-aapl"}
    assert json.loads(before[2])["reduce_only_accounts"] == [7]
    harness.restart()
    assert [ctl(*view)[1] for view in views] == before
    assert "mm-aapl" in ctl("get", "strategies")[1]
    assert ctl("audit", "verify")[0] == 0
    halts = json.loads(ctl("get", "halts", "-o", "json")[1])
    assert halts["halts"][0]["target"]["symbol"] == "MSFT"
    _, out, _ = ctl("check-order", "--id", "1", "--account", "3", "--instrument", "MSFT",
                       "--side", "buy", "--qty", "1", "--price", "1500000", role="risk")
    assert "halted" in out  # restored into the fresh device
    assert ctl("check-order", "--id", "2", "--account", "3", "--instrument", "AAPL",
               "--side", "buy", "--qty", "1", "--price", "1500000", role="risk")[0] == 0
    # reduce-only is restored into the fresh device too: account 7 may not buy
    code, out, _ = ctl("check-order", "--id", "10", "--account", "7", "--instrument", "AAPL",
                       "--side", "buy", "--qty", "1", "--price", "1500000", role="risk")
    assert code == 1 and "reduce_only" in out
    assert ctl("reduce-only", "--account", "7", "--off", role="risk")[0] == 0
    assert ctl("check-order", "--id", "11", "--account", "7", "--instrument", "AAPL",
               "--side", "buy", "--qty", "1", "--price", "1500000", role="risk")[0] == 0


def test_get_named_missing_object_is_not_found(ctl: Ctl) -> None:
    setup_market(ctl)
    code, out, err = ctl("get", "audit", "strategy/nope")
    assert (code, out) == (4, "") and "no audit rows for target 'strategy/nope'" in err
    code, out, _ = ctl("get", "audit", "instrument/1", "-o", "json")
    assert code == 0 and [r["action"] for r in json.loads(out)] == ["set_instrument_limits"]
    assert ctl("get", "strategy", "nope")[0] == 4
    code, out, err = ctl("get", "limits", "MSFT")  # mapped, but no limits set
    assert (code, out) == (4, "") and "no limits set for instrument MSFT" in err
    assert ctl("get", "limits", "ZZZZ")[0] == 4  # not even a symbol
    assert ctl("get", "limits", "--account", "9")[0] == 4
    assert ctl("get", "exposure", "ZZZZ")[0] == 4
    assert ctl("describe", "strategy", "nope")[0] == 4
    code, _, err = ctl("get", "halts", "AAPL")  # takes no NAME
    assert code == 2 and "get halts takes no NAME" in err
