"""Volatility surfaces: raw SVI per expiry slice, an SSVI surface, no-arbitrage checks.

Conventions: k = ln(K/F) (log-moneyness against the forward), w = sigma_iv^2 T (total
implied variance), T in years.

* Raw SVI (Gatheral): w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)).
  Fitted per slice by the quasi-explicit method (Zeliade, 2009): with
  y = (k - m)/sigma, w = a + d y + c sqrt(y^2 + 1) is linear in (a, d, c) =
  (a, rho b sigma, b sigma), so for fixed (m, sigma) the best (a, d, c) is a 3x3
  least-squares solve; these solves are batched over many (m, sigma) candidates at
  once (one NumPy call per batch). The outer two-parameter problem starts from the
  best point of a grid of candidates and is refined by Nelder-Mead (written here),
  then the five raw parameters are polished by Levenberg-Marquardt. Constraints kept
  in the inner solve: c >= 0, |d| <= c (|rho| <= 1), c + |d| <= 2 sigma (Lee's
  moment bound on the wings: b (1 + |rho|) <= 2) and a + sqrt(c^2 - d^2) >= 0
  (w >= 0); an unconstrained solution that violates them is projected.
* SSVI (Gatheral-Jacquier 2014): w(k, theta) = theta/2 (1 + rho phi k +
  sqrt((phi k + rho)^2 + 1 - rho^2)), phi(theta) = eta / (theta^gamma
  (1 + theta)^(1 - gamma)) (power law); theta_t = ATM total variance of each
  fitted SVI slice, (rho, eta, gamma) fitted to every quote.
* Butterfly arbitrage: the density is non-negative iff
  g(k) = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2 >= 0; checked on a grid
  covering the quoted strikes and beyond, reported per slice with the worst k.
* Calendar arbitrage: w(k, T) must be non-decreasing in T for every k; each slice
  is checked against the previous expiry on the same grid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
SVI_NAMES = ("a", "b", "rho", "m", "sigma")
MIN_QUOTES = 5
# g(k) and calendar differences below -TOL count as arbitrage (rounding is ~1e-15).
ARB_TOL = 1e-10


class SurfaceInputError(ValueError):
    """Bad quotes: the message names the columns, rows or expiries at fault."""


# ---------------------------------------------------------------------------
# Raw SVI


def svi_w(k: Any, p: Any) -> F64:
    """Total variance of raw SVI parameters p = (a, b, rho, m, sigma) at k."""
    a, b, rho, m, sig = (float(v) for v in p)
    km = np.asarray(k, dtype=np.float64) - m
    return np.asarray(a + b * (rho * km + np.sqrt(km * km + sig * sig)))


def svi_derivatives(k: Any, p: Any) -> tuple[F64, F64, F64]:
    """w, dw/dk, d2w/dk2 of raw SVI."""
    a, b, rho, m, sig = (float(v) for v in p)
    km = np.asarray(k, dtype=np.float64) - m
    r = np.sqrt(km * km + sig * sig)
    return a + b * (rho * km + r), b * (rho + km / r), b * sig * sig / (r * r * r)


def butterfly_g(k: Any, w: F64, w1: F64, w2: F64) -> F64:
    """Gatheral's g(k): the risk-neutral density is non-negative where g >= 0."""
    kk = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((1.0 - kk * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25)
                          + 0.5 * w2)


def _inner_solve(k: F64, w: F64, wt: F64, m: F64, sig: F64
                 ) -> tuple[F64, F64, F64, F64]:
    """Best (a, d, c) for every candidate (m[i], sig[i]) at once, and its weighted SSE.

    Batched normal equations of w ~ a + d y + c z, y = (k - m)/sig, z = sqrt(y^2 + 1),
    then projection onto the constraints (see the module docstring)."""
    y = (k[None, :] - m[:, None]) / sig[:, None]
    z = np.sqrt(y * y + 1.0)
    ones = np.ones_like(y)
    cols = np.stack([ones, y, z], axis=-1)                      # (C, n, 3)
    cw = cols * wt[None, :, None]
    ata = np.einsum("cni,cnj->cij", cw, cols)                   # (C, 3, 3)
    atb = np.einsum("cni,n->ci", cw, w)
    ata += np.eye(3)[None] * 1e-14 * np.trace(ata, axis1=1, axis2=2)[:, None, None]
    sol = np.linalg.solve(ata, atb[..., None])[..., 0]
    a, d, c = sol[:, 0], sol[:, 1], sol[:, 2]
    # projection: 0 <= c <= 2 sig, |d| <= min(c, 2 sig - c), then a refitted
    lim = 2.0 * sig
    bad = (c < 0) | (c > lim) | (np.abs(d) > np.minimum(c, lim - c))
    if np.any(bad):
        c2 = np.clip(c, 0.0, lim)
        dmax = np.minimum(c2, lim - c2)
        d2 = np.clip(d, -dmax, dmax)
        rest = w[None, :] - d2[:, None] * y - c2[:, None] * z
        a2 = (rest * wt[None, :]).sum(axis=1) / wt.sum()
        a, d, c = np.where(bad, a2, a), np.where(bad, d2, d), np.where(bad, c2, c)
    # w >= 0 everywhere: a >= -sqrt(c^2 - d^2)
    a = np.maximum(a, -np.sqrt(np.maximum(c * c - d * d, 0.0)))
    resid = a[:, None] + d[:, None] * y + c[:, None] * z - w[None, :]
    sse = (resid * resid * wt[None, :]).sum(axis=1)
    return a, d, c, sse


def _nelder_mead(f: Callable[[F64], float], x0: F64, step: F64, max_iter: int = 400,
                 xtol: float = 1e-12, ftol: float = 1e-30) -> tuple[F64, float, int]:
    """Minimal Nelder-Mead (standard coefficients 1, 2, 1/2, 1/2)."""
    n = len(x0)
    simplex = np.vstack([x0] + [x0 + np.eye(n)[i] * step[i] for i in range(n)])
    fs = np.array([f(x) for x in simplex])
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007  (it is reported)
        order = np.argsort(fs)
        simplex, fs = simplex[order], fs[order]
        if (np.max(np.abs(simplex[1:] - simplex[0])) < xtol
                or abs(fs[-1] - fs[0]) <= ftol * max(1.0, abs(fs[0]))):
            break
        centroid = simplex[:-1].mean(axis=0)
        xr = centroid + (centroid - simplex[-1])
        fr = f(xr)
        if fr < fs[0]:
            xe = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(xe)
            simplex[-1], fs[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < fs[-2]:
            simplex[-1], fs[-1] = xr, fr
        else:
            inside = fr >= fs[-1]
            xc = centroid + 0.5 * ((simplex[-1] if inside else xr) - centroid)
            fc = f(xc)
            if fc < min(fr, fs[-1]):
                simplex[-1], fs[-1] = xc, fc
            else:  # shrink towards the best point
                simplex[1:] = simplex[0] + 0.5 * (simplex[1:] - simplex[0])
                fs[1:] = [f(x) for x in simplex[1:]]
    best = int(np.argmin(fs))
    return simplex[best], float(fs[best]), it


def _svi_residual_jacobian(k: F64, w: F64, sw: F64, p: F64) -> tuple[F64, F64]:
    a, b, rho, m, sig = p
    km = k - m
    r = np.sqrt(km * km + sig * sig)
    res = (a + b * (rho * km + r) - w) * sw
    jac = np.stack([np.ones_like(k), rho * km + r, b * km, -b * (rho + km / r), b * sig / r],
                   axis=1) * sw[:, None]
    return res, jac


def _levenberg_marquardt(k: F64, w: F64, sw: F64, p0: F64, iters: int = 50) -> F64:
    """Polish all five raw parameters (weighted least squares), keeping |rho| < 1, sigma > 0."""
    p = p0.copy()
    res, jac = _svi_residual_jacobian(k, w, sw, p)
    cost = float(res @ res)
    lam = 1e-3
    for _ in range(iters):
        jtj = jac.T @ jac
        g = jac.T @ res
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-300), -g)
        cand = p + step
        if abs(cand[2]) >= 1.0 or cand[4] <= 0.0 or cand[1] < 0.0:
            lam *= 10.0
            continue
        r2, j2 = _svi_residual_jacobian(k, w, sw, cand)
        c2 = float(r2 @ r2)
        if c2 < cost:
            rel = (cost - c2) / max(cost, 1e-300)
            p, res, jac, cost = cand, r2, j2, c2
            lam = max(lam / 10.0, 1e-12)
            if rel < 1e-15:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    return p


@dataclass
class SviFit:
    expiry_years: float
    params: tuple[float, float, float, float, float]   # a, b, rho, m, sigma
    rmse_total_variance: float
    rmse_implied_vol: float
    n_quotes: int
    k_min: float
    k_max: float
    butterfly: dict[str, Any] = field(default_factory=dict)
    calendar: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"expiry_years": self.expiry_years,
                **{nm: v for nm, v in zip(SVI_NAMES, self.params, strict=True)},
                "atm_total_variance": float(svi_w(0.0, self.params)),
                "rmse_total_variance": self.rmse_total_variance,
                "rmse_implied_vol": self.rmse_implied_vol, "n_quotes": self.n_quotes,
                "k_min": self.k_min, "k_max": self.k_max,
                "butterfly": self.butterfly, "calendar": self.calendar}


def fit_svi_slice(k: Any, w: Any, expiry_years: float = 1.0, weights: Any = None) -> SviFit:
    """Raw SVI fit of one slice: log-moneyness k, total variance w (same length)."""
    k = np.asarray(k, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if k.shape != w.shape or k.ndim != 1 or len(k) < MIN_QUOTES:
        raise SurfaceInputError(f"expiry {expiry_years:g}: need at least {MIN_QUOTES} quotes "
                                f"(k and w of one length), got {len(k)}")
    wt = np.ones_like(k) if weights is None else np.asarray(weights, dtype=np.float64)
    span = max(float(k.max() - k.min()), 1e-3)
    # batched grid over (m, sigma)
    mg = np.linspace(k.min() - 0.5 * span, k.max() + 0.5 * span, 41)
    sg = np.geomspace(1e-3 * span, 2.0 * span, 36)
    mm, ss = (x.ravel() for x in np.meshgrid(mg, sg))
    _, _, _, sse = _inner_solve(k, w, wt, mm, ss)
    best = int(np.argmin(sse))

    def outer(x: F64) -> float:
        m, ls = float(x[0]), float(x[1])
        return float(_inner_solve(k, w, wt, np.array([m]), np.array([math.exp(ls)]))[3][0])

    x0 = np.array([mm[best], math.log(ss[best])])
    x, _, _ = _nelder_mead(outer, x0, np.array([0.1 * span, 0.3]))
    m, sig = float(x[0]), math.exp(float(x[1]))
    a, d, c, _ = (float(v[0]) for v in _inner_solve(k, w, wt, np.array([m]), np.array([sig])))
    b = c / sig
    rho = d / c if c > 0 else 0.0
    p = np.array([a, b, rho, m, sig])
    p = _levenberg_marquardt(k, w, np.sqrt(wt), p)
    fit = svi_w(k, p)
    iv_fit = np.sqrt(np.maximum(fit, 0.0) / expiry_years)
    iv_obs = np.sqrt(np.maximum(w, 0.0) / expiry_years)
    return SviFit(expiry_years=float(expiry_years),
                  params=(float(p[0]), float(p[1]), float(p[2]), float(p[3]), float(p[4])),
                  rmse_total_variance=float(np.sqrt(np.mean((fit - w) ** 2))),
                  rmse_implied_vol=float(np.sqrt(np.mean((iv_fit - iv_obs) ** 2))),
                  n_quotes=len(k), k_min=float(k.min()), k_max=float(k.max()))


def check_butterfly(p: Any, k_grid: F64) -> dict[str, Any]:
    w, w1, w2 = svi_derivatives(k_grid, p)
    g = butterfly_g(k_grid, w, w1, w2)
    g = np.where(w > 0, g, -np.inf)  # negative total variance is arbitrage too
    i = int(np.argmin(g))
    return {"ok": bool(g[i] >= -ARB_TOL), "min_g": float(g[i]), "k_at_min_g": float(k_grid[i])}


def check_calendar(p_prev: Any, p: Any, k_grid: F64) -> dict[str, Any]:
    diff = svi_w(k_grid, p) - svi_w(k_grid, p_prev)
    i = int(np.argmin(diff))
    return {"ok": bool(diff[i] >= -ARB_TOL), "min_w_minus_previous": float(diff[i]),
            "k_at_min": float(k_grid[i])}


def _k_grid(fits: list[SviFit], n: int = 801) -> F64:
    lo = min(f.k_min for f in fits)
    hi = max(f.k_max for f in fits)
    span = max(hi - lo, 0.1)
    return np.linspace(lo - 0.5 * span, hi + 0.5 * span, n)


# ---------------------------------------------------------------------------
# SSVI


def ssvi_w(k: Any, theta: Any, rho: float, eta: float, gamma: float) -> F64:
    th = np.asarray(theta, dtype=np.float64)
    phi = eta / (th ** gamma * (1.0 + th) ** (1.0 - gamma))
    pk = phi * np.asarray(k, dtype=np.float64)
    return np.asarray(0.5 * th * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho)))


def fit_ssvi(k: F64, w: F64, theta: F64) -> dict[str, Any]:
    """(rho, eta, gamma) of a power-law SSVI over all quotes; theta per quote given."""
    def unpack(x: F64) -> tuple[float, float, float]:
        return (math.tanh(float(x[0])), math.exp(float(x[1])),
                1.0 / (1.0 + math.exp(-float(x[2]))))

    def cost(x: F64) -> float:
        r = ssvi_w(k, theta, *unpack(x)) - w
        return float(r @ r)

    best = None
    for r0 in (-0.5, 0.0, 0.5):
        for e0 in (0.5, 1.5):
            x, f, _ = _nelder_mead(cost, np.array([math.atanh(r0), math.log(e0), 0.0]),
                                   np.array([0.3, 0.3, 0.5]), max_iter=600)
            if best is None or f < best[1]:
                best = (x, f)
    assert best is not None
    rho, eta, gamma = unpack(best[0])
    th_sorted = np.unique(theta)
    return {"rho": rho, "eta": eta, "gamma": gamma,
            "rmse_total_variance": math.sqrt(best[1] / len(k)),
            # Gatheral-Jacquier: theta non-decreasing in T -> no calendar arbitrage;
            # eta (1 + |rho|) <= 2 with gamma <= 1/2 -> no butterfly arbitrage.
            "calendar_ok": bool(np.all(np.diff(th_sorted) >= 0)),
            "butterfly_sufficient_condition": bool(eta * (1 + abs(rho)) <= 2.0
                                                   and gamma <= 0.5)}


# ---------------------------------------------------------------------------
# Surface from quotes


@dataclass
class Surface:
    slices: list[SviFit]
    ssvi: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {"model": "raw SVI per expiry, power-law SSVI surface",
                "conventions": "k = ln(K/F), w = iv^2 T",
                "slices": [s.as_dict() for s in self.slices], "ssvi": self.ssvi,
                "arbitrage_free": all(s.butterfly.get("ok", True) and s.calendar.get("ok", True)
                                      for s in self.slices)}


def fit_surface(expiry: Any, k: Any, w: Any) -> Surface:
    """SVI per distinct expiry, arbitrage checks, and an SSVI fit over all quotes."""
    t = np.asarray(expiry, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    fits = []
    for te in np.unique(t):
        sel = t == te
        fits.append(fit_svi_slice(k[sel], w[sel], float(te)))
    grid = _k_grid(fits)
    prev: SviFit | None = None
    for f in fits:
        f.butterfly = check_butterfly(f.params, grid)
        f.calendar = (check_calendar(prev.params, f.params, grid) if prev is not None
                      else {"ok": True, "note": "first expiry"})
        prev = f
    ssvi = None
    if len(fits) >= 2:
        theta_of = {f.expiry_years: float(svi_w(0.0, f.params)) for f in fits}
        theta = np.array([theta_of[float(x)] for x in t])
        ssvi = fit_ssvi(k, w, theta)
        ssvi["theta"] = {str(f.expiry_years): theta_of[f.expiry_years] for f in fits}
    return Surface(fits, ssvi)


def quotes_from_table(table: dict[str, Any], path: Path) -> tuple[F64, F64, F64]:
    """(expiry, k, w) from a quotes table (see docs/analytics.md, `surface`)."""
    from . import jobs

    def col(name: str) -> F64:
        return jobs._to_float(path, name, table[name])

    need = ["expiry_years", "strike"]
    if "forward" not in table:
        need.append("underlying_price")
    if "iv" not in table:
        need += ["price", "option_type"]
    missing = [c for c in need if c not in table]
    if missing:
        raise SurfaceInputError(
            f"{path}: missing column(s) {', '.join(missing)} (quotes need expiry_years, "
            "strike, forward or underlying_price [rate, dividend_yield], and iv or "
            f"price + option_type; have: {', '.join(table)})")
    t = col("expiry_years")
    strike = col("strike")
    n = len(t)
    r = col("rate") if "rate" in table else np.zeros(n)
    q = col("dividend_yield") if "dividend_yield" in table else np.zeros(n)
    fwd = col("forward") if "forward" in table else col("underlying_price") * np.exp((r - q) * t)
    for name, arr in (("expiry_years", t), ("strike", strike),
                      ("forward" if "forward" in table else "underlying_price", fwd)):
        bad = np.flatnonzero(~(arr > 0) | ~np.isfinite(arr))
        if len(bad):
            raise SurfaceInputError(f"{path}: column {name!r} must be positive and finite; "
                                    f"bad on line(s) {_lines(bad)}")
    if "iv" in table:
        iv = col("iv")
        bad = np.flatnonzero(~(iv > 0) | ~np.isfinite(iv))
        if len(bad):
            raise SurfaceInputError(f"{path}: column 'iv' must be positive and finite; bad on "
                                    f"line(s) {_lines(bad)}")
    else:
        from . import analytics

        price = col("price")
        flag = analytics.parse_option_type(table["option_type"])
        if np.any(flag < 0):
            raise SurfaceInputError(f"{path}: column 'option_type' must be call or put; bad "
                                    f"on line(s) {_lines(np.flatnonzero(flag < 0))}")
        spot = fwd * np.exp(-(r - q) * t)
        iv, st = analytics.implied_vol(price, spot, strike, t, r, q, flag, backend="cpu")
        bad = np.flatnonzero((st != 0) | ~(iv > 0))
        if len(bad):
            raise SurfaceInputError(f"{path}: no implied vol from 'price' on line(s) "
                                    f"{_lines(bad)} (below intrinsic, above the maximum or "
                                    "zero time value)")
    k = np.log(strike / fwd)
    w = iv * iv * t
    counts = {float(te): int(np.sum(t == te)) for te in np.unique(t)}
    few = [te for te, c in counts.items() if c < MIN_QUOTES]
    if few:
        raise SurfaceInputError(f"{path}: expiries {', '.join(f'{x:g}' for x in few)} have "
                                f"fewer than {MIN_QUOTES} quotes (an SVI slice has 5 "
                                "parameters)")
    return t, k, w


def _lines(idx: npt.NDArray[Any]) -> str:
    lines = [int(i) + 2 for i in idx]  # 1-based, after the header
    return ", ".join(map(str, lines[:10])) + (f" (and {len(lines) - 10} more)"
                                              if len(lines) > 10 else "")


def write_json(path: Path, surface: Surface, extra: dict[str, Any] | None = None) -> None:
    doc = surface.as_dict()
    if extra:
        doc.update(extra)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def plot_png(path: Path, surface: Surface, t: F64, k: F64, w: F64) -> str | None:
    """Writes the PNG; returns None, or a note when matplotlib is not installed."""
    try:
        import matplotlib  # type: ignore[import-untyped,import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return ("PNG skipped: matplotlib is not installed (pip install matplotlib, the "
                "optional 'plot' extra)")
    grid = _k_grid(surface.slices, 201)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    for f in surface.slices:
        sel = t == f.expiry_years
        line = ax1.plot(grid, np.sqrt(np.maximum(svi_w(grid, f.params), 0) / f.expiry_years),
                        label=f"T={f.expiry_years:g}" + ("" if f.butterfly["ok"]
                                                         and f.calendar["ok"] else " (arb)"))
        ax1.plot(k[sel], np.sqrt(w[sel] / f.expiry_years), "o", ms=3,
                 color=line[0].get_color())
    ax1.set_xlabel("log-moneyness ln(K/F)")
    ax1.set_ylabel("implied vol")
    ax1.set_title("raw SVI per expiry (dots: quotes)")
    ax1.legend(fontsize=7)
    # between expiries: total variance linear in T (per k), as usual
    ts = np.array([f.expiry_years for f in surface.slices])
    ws = np.array([svi_w(grid, f.params) for f in surface.slices])
    tg = np.linspace(ts[0], ts[-1], 120) if len(ts) > 1 else ts
    wg = np.array([np.interp(tg, ts, ws[:, j]) for j in range(len(grid))]).T
    vols = np.sqrt(np.maximum(wg, 0.0) / tg[:, None])
    mesh = ax2.pcolormesh(grid, tg, vols, shading="nearest")
    fig.colorbar(mesh, ax=ax2, label="implied vol")
    ax2.set_xlabel("log-moneyness ln(K/F)")
    ax2.set_ylabel("expiry (years)")
    ax2.set_title("SVI surface (w linear in T between expiries)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
