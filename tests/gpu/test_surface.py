"""Volatility surface: raw SVI recovery, SSVI, arbitrage flags, the `surface` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nanogate.gpu import analytics, surface
from nanogate.gpu.cli import main

TRUE = {0.25: (0.01, 0.3, -0.5, 0.05, 0.15), 0.5: (0.02, 0.35, -0.45, 0.06, 0.2),
        1.0: (0.04, 0.4, -0.4, 0.1, 0.2), 2.0: (0.08, 0.42, -0.35, 0.12, 0.3)}
# Axel Vogt's slice (Gatheral & Jacquier 2014): wings fine, negative density near k = 0.
VOGT = (-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)


def test_recovers_svi_parameters_from_noiseless_quotes() -> None:
    k = np.linspace(-0.8, 0.6, 21)
    for t, p in TRUE.items():
        fit = surface.fit_svi_slice(k, surface.svi_w(k, p), t)
        np.testing.assert_allclose(fit.params, p, rtol=1e-7, atol=1e-9)
        assert fit.rmse_total_variance < 1e-12


def test_recovers_svi_parameters_from_noisy_quotes() -> None:
    rng = np.random.default_rng(4)
    k = np.linspace(-0.8, 0.6, 60)
    p = TRUE[1.0]
    w = surface.svi_w(k, p)
    noisy = w + rng.normal(0.0, 1e-4, len(k))
    fit = surface.fit_svi_slice(k, noisy, 1.0)
    # the fitted smile is as close to the truth as the noise allows
    assert np.max(np.abs(surface.svi_w(k, fit.params) - w)) < 1e-4
    assert fit.rmse_total_variance == pytest.approx(1e-4, rel=0.3)
    np.testing.assert_allclose(fit.params, p, atol=0.03)


def test_butterfly_check_flags_vogt_slice_and_passes_a_clean_one() -> None:
    grid = np.linspace(-1.5, 1.5, 601)
    bad = surface.check_butterfly(VOGT, grid)
    assert not bad["ok"] and bad["min_g"] < -0.01
    assert -0.5 < bad["k_at_min_g"] < 1.0
    good = surface.check_butterfly(TRUE[1.0], grid)
    assert good["ok"] and good["min_g"] > 0


def test_calendar_check_flags_crossing_slices() -> None:
    grid = np.linspace(-1, 1, 201)
    assert surface.check_calendar(TRUE[0.5], TRUE[1.0], grid)["ok"]
    cal = surface.check_calendar(TRUE[1.0], TRUE[0.5], grid)  # later slice below earlier
    assert not cal["ok"] and cal["min_w_minus_previous"] < 0


def test_fit_surface_reports_arbitrage_per_slice() -> None:
    k = np.linspace(-0.8, 0.8, 25)
    slices = {0.5: TRUE[0.5], 1.0: VOGT, 2.0: TRUE[2.0]}
    t = np.concatenate([np.full(len(k), te) for te in slices])
    kk = np.tile(k, len(slices))
    w = np.concatenate([surface.svi_w(k, p) for p in slices.values()])
    surf = surface.fit_surface(t, kk, w)
    by_t = {s.expiry_years: s for s in surf.slices}
    assert by_t[0.5].butterfly["ok"] and by_t[2.0].butterfly["ok"]
    assert not by_t[1.0].butterfly["ok"]
    assert not surf.as_dict()["arbitrage_free"]


def test_ssvi_parameters_recovered() -> None:
    rho, eta, gamma = -0.6, 1.1, 0.4
    k = np.linspace(-0.7, 0.7, 15)
    thetas = [0.01, 0.03, 0.06, 0.1]
    kk = np.tile(k, len(thetas))
    th = np.repeat(thetas, len(k))
    w = surface.ssvi_w(kk, th, rho, eta, gamma)
    res = surface.fit_ssvi(kk, w, th)
    assert res["rho"] == pytest.approx(rho, abs=1e-5)
    assert res["eta"] == pytest.approx(eta, rel=1e-5)
    assert res["gamma"] == pytest.approx(gamma, abs=1e-5)
    assert res["calendar_ok"] and res["butterfly_sufficient_condition"]


def _write_quotes(path: Path, with_price: bool) -> None:
    s, r, q = 100.0, 0.02, 0.01
    lines = ["expiry_years,strike,underlying_price,rate,dividend_yield,option_type,"
             + ("price" if with_price else "iv")]
    for t, p in TRUE.items():
        fwd = s * np.exp((r - q) * t)
        for kx in map(float, np.linspace(-0.5, 0.4, 9)):
            strike = float(fwd * np.exp(kx))
            iv = float(np.sqrt(surface.svi_w(kx, p) / t))
            cp = "call" if kx > 0 else "put"
            val = float(analytics.price_greeks(s, strike, t, r, q, iv, cp,
                                               backend="cpu")["price"]) if with_price else iv
            lines.append(f"{t},{strike!r},{s},{r},{q},{cp},{val!r}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("with_price", [False, True])
def test_surface_command_writes_json_and_png(tmp_path: Path, with_price: bool) -> None:
    _write_quotes(tmp_path / "q.csv", with_price)
    assert main(["analytics", "surface", "-i", str(tmp_path / "q.csv"),
                 "-o", str(tmp_path / "s.json")]) == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert [s["expiry_years"] for s in doc["slices"]] == sorted(TRUE)
    for sl in doc["slices"]:
        want = TRUE[sl["expiry_years"]]
        got = [sl[nm] for nm in surface.SVI_NAMES]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        assert sl["butterfly"]["ok"] and sl["calendar"]["ok"]
    assert doc["arbitrage_free"] and doc["ssvi"] is not None
    pytest.importorskip("matplotlib")
    png = tmp_path / "s.png"
    assert doc["png"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_surface_without_matplotlib_skips_png_with_a_note(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    import builtins

    real_import = builtins.__import__

    def no_mpl(name: str, *a: object, **kw: object) -> object:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a, **kw)  # type: ignore[arg-type]

    _write_quotes(tmp_path / "q.csv", False)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    assert main(["analytics", "surface", "-i", str(tmp_path / "q.csv"),
                 "-o", str(tmp_path / "s.json")]) == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["png"] is None and "matplotlib" in doc["note"]
    assert not (tmp_path / "s.png").exists()
    assert "matplotlib" in capsys.readouterr().err


def test_surface_bad_input_names_columns_and_rows(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("expiry_years,strike,iv\n1,100,0.2\n")
    assert main(["analytics", "surface", "-i", str(f), "-o", str(tmp_path / "o.json")]) == 2
    assert "underlying_price" in capsys.readouterr().err
    rows = ["expiry_years,strike,forward,iv"] + [f"1,{90 + i},100,0.2" for i in range(6)]
    rows[3] = "1,-5,100,0.2"
    f.write_text("\n".join(rows) + "\n")
    assert main(["analytics", "surface", "-i", str(f), "-o", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "'strike'" in err and "line(s) 4" in err
    rows = ["expiry_years,strike,forward,iv"] + [f"1,{90 + i},100,0.2" for i in range(6)]
    rows += ["2,100,100,0.2", "2,101,100,x"]
    f.write_text("\n".join(rows) + "\n")
    assert main(["analytics", "surface", "-i", str(f), "-o", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "'iv'" in err and "line(s) 9" in err
    rows = rows[:-1]
    f.write_text("\n".join(rows) + "\n")
    assert main(["analytics", "surface", "-i", str(f), "-o", str(tmp_path / "o.json")]) == 2
    assert "expiries 2 have fewer than 5 quotes" in capsys.readouterr().err
