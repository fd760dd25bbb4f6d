"""nanogate replay: a session through strategies, risk and the venue, in lockstep."""

from __future__ import annotations

import argparse
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanogate import replay as replay_module
from nanogate import replay_cli
from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.replay import Replay, ReplayConfig, ReplayError
from nanogate.replay_cli import main, register
from nanogate.sim.synth import write_synthetic
from nanogate.sim.venue.server import VenueServer

REPO = Path(__file__).resolve().parent.parent
MM_SPEC = REPO / "examples" / "strategies" / "mm-aapl.yaml"
MOMENTUM_SPEC = REPO / "examples" / "strategies" / "momentum-msft.yaml"
FEE = 0.002  # dollars a share, so that fees are cross-checked too
TIMING = ("elapsed_s", "messages_per_s")

SPEC_TEMPLATE = """\
apiVersion: nanogate/v1
kind: Strategy
metadata: {{name: {name}}}
spec:
  type: market-making
  account: 3
  instruments: [{instruments}]
  riskLimit: "1%"
  maxPositionSize: "1M"
  frequency: high
  params: {{quote_size: 100}}
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "day.itch"
    write_synthetic(path, messages=20_000, instruments=4, seed=11)
    return path


@pytest.fixture(scope="module")
def mm_run(session: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("replay-json") / "run.json"
    stdout = io.StringIO()
    args = _parse([str(session), "--strategy", str(MM_SPEC), "--fee-per-share", str(FEE),
                   "--json", str(out)])
    code = replay_cli.run_replay(args, stdout, io.StringIO())
    return code, stdout.getvalue(), json.loads(out.read_text())


@pytest.fixture(scope="module")
def short_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay-short") / "short.itch"
    write_synthetic(path, messages=3_000, instruments=2, seed=5)
    return path


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nanogate")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["replay", *argv])


def _without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in TIMING}


def _spec(tmp_path: Path, name: str, instruments: str, text: str | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text or SPEC_TEMPLATE.format(name=name, instruments=instruments))
    return path


# --- the market-making example on a synthetic session -------------------------------------

def test_market_making_trades(mm_run: tuple[int, str, dict[str, Any]]) -> None:
    code, text, summary = mm_run
    assert code == 0
    assert summary["settle_timeouts"] == 0
    (mm,) = summary["strategies"]
    assert mm["name"] == "mm-aapl"
    assert mm["orders"]["new"] > 0
    assert mm["fills"]["count"] > 0 and len(summary["fills"]) == mm["fills"]["count"]
    assert mm["fill_rate"] == pytest.approx(mm["fills"]["shares"] / mm["orders"]["sent_shares"],
                                             abs=1e-6)  # printed to 6 places
    # the end of the replay cancels what was still open: nothing is left on the venue
    assert summary["router"]["fills"] == mm["fills"]["count"]
    for heading in ("PnL", "Sharpe", "max drawdown", "fill rate", "slippage", "rejects",
                    "positions"):
        assert heading in text


def test_json_has_every_field(mm_run: tuple[int, str, dict[str, Any]]) -> None:
    _, _, summary = mm_run
    for key in ("file", "format", "messages", "speed", "batch", "window_us", "batches",
                "elapsed_s", "messages_per_s", "feed_time", "gaps_capped", "pnl",
                "strategies", "marks", "fills", "router", "venue", "risk",
                "settle_timeouts", "notes"):
        assert key in summary, key
    assert summary["messages"] == 20_000
    (mm,) = summary["strategies"]
    for key in ("name", "type", "account", "instruments", "capital", "pnl", "sharpe",
                "max_drawdown", "fill_rate", "slippage_bps", "unmatched_fills", "orders",
                "fills", "cancels", "rejects", "positions", "breaches"):
        assert key in mm, key
    assert set(mm["pnl"]) == {"total", "realized", "unrealized", "fees"}
    assert isinstance(mm["sharpe"], float) and isinstance(mm["slippage_bps"], float)
    assert mm["max_drawdown"] >= 0
    assert set(mm["rejects"]) == {"count", "by_source"}
    fill = summary["fills"][0]
    assert set(fill) >= {"strategy", "symbol", "side", "quantity", "price", "match_number"}


def test_pnl_is_the_arithmetic_of_the_fills(mm_run: tuple[int, str, dict[str, Any]]) -> None:
    """Cash flows of the fills plus the open shares at the last mid, less fees: no
    average-cost bookkeeping, so an error in the ledger's cannot cancel out here."""
    _, _, summary = mm_run
    (mm,) = summary["strategies"]
    cash = 0.0  # dollars
    shares: dict[str, int] = defaultdict(int)
    filled = 0
    for fill in summary["fills"]:
        signed = fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
        cash -= signed * fill["price"] / 10_000
        shares[fill["symbol"]] += signed
        filled += fill["quantity"]
    fees = filled * FEE
    worth = sum(q * summary["marks"][symbol] for symbol, q in shares.items() if q)
    assert mm["pnl"]["fees"] == pytest.approx(fees)
    assert mm["pnl"]["total"] == pytest.approx(cash + worth - fees, abs=1e-4)
    assert mm["pnl"]["total"] == pytest.approx(
        mm["pnl"]["realized"] + mm["pnl"]["unrealized"] - mm["pnl"]["fees"], abs=1e-4)
    reported = {p["symbol"]: p["shares"] for p in mm["positions"]}
    assert {s: q for s, q in shares.items()} == reported
    # the venue's view: every execution of ours, passive or not, is one fill here
    venue = summary["venue"]
    assert venue.get("executions", 0) + venue.get("executions_passive", 0) == len(
        summary["fills"])


def test_same_run_twice_gives_the_same_results(
        session: Path, mm_run: tuple[int, str, dict[str, Any]]) -> None:
    _, _, first = mm_run
    again = Replay(ReplayConfig(session, [MM_SPEC], fee_per_share=FEE)).run()
    assert _without_timing(again) == _without_timing(first)


def test_speed_1x_paces_by_the_feed_and_changes_nothing_else(short_session: Path) -> None:
    fast = Replay(ReplayConfig(short_session, [MM_SPEC])).run()
    paced = Replay(ReplayConfig(short_session, [MM_SPEC], speed="1x", max_gap_s=0.0002)).run()
    assert paced["gaps_capped"] > 0  # the synthetic day is sparse: every gap is capped
    assert paced["elapsed_s"] >= paced["gaps_capped"] * 0.0002
    keep = ("strategies", "fills", "marks", "router", "pnl", "batches")
    assert {k: paced[k] for k in keep} == {k: fast[k] for k in keep}


def test_two_accounts_repeat_too(short_session: Path) -> None:
    """Two accounts are two sessions: the venue reads each intent in turn, so the
    order it sees them in does not depend on which session thread runs first."""
    config = ReplayConfig(short_session, [MM_SPEC, MOMENTUM_SPEC])
    summary = Replay(config).run()
    names = [s["name"] for s in summary["strategies"]]
    assert names == ["mm-aapl", "momentum-msft"]
    assert [s["account"] for s in summary["strategies"]] == [7, 8]
    assert summary["pnl"]["total"] == pytest.approx(
        sum(s["pnl"]["total"] for s in summary["strategies"]), abs=1e-4)
    assert summary["settle_timeouts"] == 0
    assert _without_timing(Replay(config).run()) == _without_timing(summary)


def test_a_capture_of_the_session_replays_the_same(short_session: Path, tmp_path: Path) -> None:
    capture = tmp_path / "short.pcap"
    write_synthetic(capture, messages=3_000, instruments=2, seed=5)
    from_file = Replay(ReplayConfig(short_session, [MM_SPEC])).run()
    from_capture = Replay(ReplayConfig(capture, [MM_SPEC])).run()
    assert from_capture["format"] == "pcap"
    assert from_capture["strategies"] == from_file["strategies"]
    assert from_capture["fills"] == from_file["fills"]


def test_a_loss_guard_breach_halts_the_strategy(short_session: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "tight", "", SPEC_TEMPLATE.format(name="tight", instruments="AAPL")
                 .replace('"1%"', '"0.0001%"'))  # $1 of loss on $1M
    summary = Replay(ReplayConfig(short_session, [spec])).run()
    (tight,) = summary["strategies"]
    (breach,) = tight["breaches"]
    assert breach["rule"] == "riskLimit" and breach["loss"] >= breach["limit"] == 1.0
    # halted at once: every order was cancelled in the same batch, nothing traded after
    assert max(f["timestamp_ns"] for f in summary["fills"]) <= breach["timestamp_ns"]
    assert tight["orders"]["end_of_replay_cancel_requests"] == 0


def test_progress_on_a_terminal(short_session: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    code = replay_cli.run_replay(_parse([str(short_session), "--strategy", str(MM_SPEC)]),
                                    io.StringIO(), err)
    assert code == 0
    assert "100.0%" in err.getvalue() and "msg/s" in err.getvalue()


# --- the public sample ---------------------------------------------------------------------

def test_sample_file(sample_path: Path, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, "mm-bob", "BOB, CHAR")
    assert main([str(sample_path), "--strategy", str(spec), "--json",
                 str(tmp_path / "out.json")]) == 0
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["messages"] == 12_012
    (mm,) = summary["strategies"]
    assert mm["instruments"] == ["BOB", "CHAR"] and mm["orders"]["new"] > 0
    captured = capsys.readouterr()
    assert "strategy mm-bob" in captured.out
    assert "length prefix is 0" in captured.err  # the sample's quirk is said, not hidden


def test_unknown_symbol_names_it_and_lists_some(sample_path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sample_path), "--strategy", str(MM_SPEC)]) == 2
    err = capsys.readouterr().err
    assert "instrument AAPL is not in" in err and "instrument MSFT is not in" in err
    assert "ALC, BOB, CHAR" in err


# --- bad input -----------------------------------------------------------------------------

def test_bad_spec_lists_every_problem_with_its_path(
        session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = SPEC_TEMPLATE.format(name="bad", instruments="AAPL")
    shape = _spec(tmp_path, "shape", "", template.replace("frequency: high", "frequency: often")
                  .replace("  params:", "  colour: red\n  params:"))
    values = _spec(tmp_path, "values", "", template.replace('"1%"', '"150%"')
                   .replace("quote_size: 100", "quote_size: -5"))
    assert main([str(session), "--strategy", str(shape), "--strategy", str(values)]) == 2
    err = capsys.readouterr().err
    assert "invalid strategy spec" in err
    for path in ("spec.frequency", "spec.colour", "spec.riskLimit", "spec.params.quote_size"):
        assert path in err, path


def test_unimplemented_strategy_type(session: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, "arb", "", SPEC_TEMPLATE.format(name="arb", instruments="AAPL")
                 .replace("market-making", "arbitrage").replace("params: {quote_size: 100}",
                                                                "params: {}"))
    assert main([str(session), "--strategy", str(spec)]) == 2
    assert "arbitrage" in capsys.readouterr().err


def test_missing_files(session: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.itch"), "--strategy", str(MM_SPEC)]) == 2
    assert "cannot read the feed" in capsys.readouterr().err
    assert main([str(session), "--strategy", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: cannot read" in capsys.readouterr().err
    not_a_feed = tmp_path / "text.itch"
    not_a_feed.write_text("hello, world\n")
    assert main([str(not_a_feed), "--strategy", str(MM_SPEC)]) == 2
    assert "not a pcap, pcapng or ITCH 5.0 BinaryFILE" in capsys.readouterr().err
    assert main([str(session), "--strategy", str(MM_SPEC), "--json",
                 str(tmp_path / "no" / "such" / "run.json")]) == 2  # said before the run
    assert "no folder" in capsys.readouterr().err


def test_bad_usage_exits_2(session: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(session), "--strategy", str(MM_SPEC), "--speed", "2x"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([str(session)])
    assert exit_info.value.code == 2


def test_venue_that_will_not_start_exits_1(
        session: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: object, **kwargs: object) -> VenueServer:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(replay_module, "VenueServer", refuse)
    assert main([str(session), "--strategy", str(MM_SPEC)]) == 1
    assert "would not start" in capsys.readouterr().err


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "nanogate replay day.itch --strategy" in out
    assert "--speed" in out and "1x" in out


def test_replay_error_codes() -> None:
    assert ReplayError("x").code == 2 and ReplayError("x", 1).code == 1
    with pytest.raises(ReplayError, match="--speed"):
        Replay(ReplayConfig(Path("x"), [MM_SPEC], speed="2x"))


# --- the venue's synchronous flow ----------------------------------------------------------

def test_step_flow_applies_events_in_step_and_tells_makers() -> None:
    events = np.zeros(3, BOOK_EVENT_DTYPE)
    events[0] = (1, 1, b"A", 1, b"S", 10, 0, 100, 1_000_000, 0, b"AAPL    ", 0)
    events[1] = (2, 2, b"E", 1, b"", 10, 0, 40, 0, 1, b"", 0)
    events[2] = (3, 3, b"A", 1, b"S", 11, 0, 50, 1_000_100, 0, b"AAPL    ", 0)
    with VenueServer(symbols=["AAPL"]) as venue:
        with pytest.raises(RuntimeError, match="follow_stepped"):
            venue.step_flow(1)
        follower = venue.follow_stepped(events, {1: "AAPL"})
        assert venue.step_flow(1) == 0  # the feed's order rests; nobody to tell
        assert follower.applied == 1 and venue.counters["flow_events"] == 1
        book = venue.engine.books["AAPL"]
        assert sum(o.leaves for o in venue.engine.orders.values()) == 100
        assert venue.step_flow(5) == 0  # an execution of the feed's own order; the rest
        assert follower.remaining == 0 and venue.counters["flow_events"] == 3
        assert book.best_ask() == 1_000_000
        assert sum(o.leaves for o in venue.engine.orders.values()) == 110
