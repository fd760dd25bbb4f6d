"""`nanogate analytics` jobs through the argparse wiring (gpu.cli.register)."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanogate.gpu import analytics
from nanogate.gpu.cli import main, register

HEADER = "underlying_price,strike,expiry_years,rate,dividend_yield,option_type,price"


def _write_chain(path: Path, style: bool = False) -> list[float]:
    sig = [0.2, 0.35, 0.5]
    rows = [(100.0, 95.0, 0.5, 0.03, 0.01, "call"), (100.0, 110.0, 1.0, -0.01, 0.02, "put"),
            (50.0, 100.0, 0.25, 0.05, 0.0, "put")]
    lines = [HEADER + (",style" if style else "")]
    for (s, k, t, r, q, cp), v in zip(rows, sig, strict=True):
        p = float(analytics.price_greeks(s, k, t, r, q, v, cp, backend="cpu")["price"])
        lines.append(f"{s},{k},{t},{r},{q},{cp},{p!r}" + (",european" if style else ""))
    lines.append("100,100,1,0.01,0,call,0.5")        # under D(F - K) = 0.995: below intrinsic
    lines.append("100,100,1,0.01,0,call,150")        # above the maximum
    path.write_text("\n".join(lines) + "\n")
    return sig


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_price_job_adds_iv_status_greeks_and_model_price(tmp_path: Path) -> None:
    sig = _write_chain(tmp_path / "in.csv")
    assert main(["analytics", "price", "--input", str(tmp_path / "in.csv"),
                 "-o", str(tmp_path / "out.csv"), "--backend", "cpu"]) == 0
    rows = _read(tmp_path / "out.csv")
    assert [r["iv_status"] for r in rows] == ["ok", "ok", "ok", "below_intrinsic",
                                              "above_max_price"]
    for r, v in zip(rows, sig, strict=False):
        assert float(r["iv"]) == pytest.approx(v, rel=1e-8)
        assert float(r["model_price"]) == pytest.approx(float(r["price"]), rel=1e-12)
    assert {"delta", "gamma", "vega", "theta", "rho"} <= set(rows[0])


def test_missing_column_and_bad_row_are_named(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("underlying_price,strike,expiry_years,rate,option_type,price\n"
                                    "100,100,1,0.01,call,5\n")
    assert main(["analytics", "iv", "-i", str(tmp_path / "a.csv"), "-o",
                 str(tmp_path / "o.csv"), "--backend", "cpu"]) == 2
    assert "dividend_yield" in capsys.readouterr().err
    (tmp_path / "b.csv").write_text(HEADER + "\n100,100,1,0.01,0,call,5\n100,x,1,0.01,0,call,5\n")
    assert main(["analytics", "iv", "-i", str(tmp_path / "b.csv"), "-o",
                 str(tmp_path / "o.csv"), "--backend", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "'strike'" in err and "line(s) 3" in err


def test_american_job(tmp_path: Path) -> None:
    s, k, t, r, q, v = 100.0, 110.0, 1.0, 0.05, 0.0, 0.3
    p, _ = analytics.american_price(s, k, t, r, q, v, "put", steps=201, backend="cpu")
    (tmp_path / "in.csv").write_text(HEADER + ",style\n"
                                     f"{s},{k},{t},{r},{q},put,{float(p)!r},american\n")
    assert main(["analytics", "american", "-i", str(tmp_path / "in.csv"), "-o",
                 str(tmp_path / "out.csv"), "--backend", "cpu"]) == 0
    row = _read(tmp_path / "out.csv")[0]
    assert row["iv_status"] == "ok"
    assert float(row["iv"]) == pytest.approx(v, rel=1e-8)


def test_realized_job(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["instrument,close"]
    for name, vol in (("AAA", 0.1), ("BBB", 0.4)):
        closes = 100 * np.exp(np.cumsum(rng.normal(0, vol / np.sqrt(252), 2000)))
        lines += [f"{name},{float(c)!r}" for c in closes]
    (tmp_path / "px.csv").write_text("\n".join(lines) + "\n")
    assert main(["analytics", "realized", "-i", str(tmp_path / "px.csv"), "-o",
                 str(tmp_path / "rv.csv")]) == 0
    rows = {r["instrument"]: r for r in _read(tmp_path / "rv.csv")}
    assert float(rows["AAA"]["close_to_close"]) == pytest.approx(0.1, rel=0.1)
    assert float(rows["BBB"]["close_to_close"]) == pytest.approx(0.4, rel=0.1)


def test_bench_json_keys(capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from nanogate.gpu import bench

    real_run = bench.run
    monkeypatch.setattr(bench, "run", lambda sizes, **kw: real_run([2000], **kw))
    assert main(["analytics", "bench", "--backend", "cpu", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"price_greeks_per_s", "iv_per_s", "iv_max_rel_error"} <= set(res)
    assert res["iv_max_rel_error"] < 1e-13
    assert res["iv_per_s"]["2000"] > 0


def test_register_adds_help_and_keeps_imports_lazy() -> None:
    parser = argparse.ArgumentParser(prog="nanogate")
    register(parser.add_subparsers(dest="command"))
    text = parser.parse_args(["analytics", "price", "-i", "x", "-o", "y"])
    assert text.kind == "price" and text.backend == "auto"
    code = ("import sys, argparse; from nanogate.gpu.cli import register; "
            "p = argparse.ArgumentParser(); register(p.add_subparsers()); "
            "print(sorted(m for m in ('numpy', 'cupy', 'nanogate.gpu.analytics') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
