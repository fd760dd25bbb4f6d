"""The report directory ``nanogate demo`` writes on exit (:func:`write_report`).

Files, all in one folder:

* ``summary.json``: the session's summary (:meth:`nanogate.live.LiveSession.summary`):
  the top-level keys ``messages``, ``messages_lost``, ``gaps_recovered``, ``orders``,
  ``orders_rejected``, ``fills``, ``tick_to_trade_p99_us`` and more, then the details
  by part (``feed``, ``order_flow``, ``latency_us``, ``positions``, ``pnl``, ...), and
  ``report``: the files written, by kind;
* ``latency-histogram.png``: the distribution of every stage's latency (wire_to_book,
  book_to_order, risk, order_to_ack, tick_to_trade) from its HdrHistogram, on a
  logarithmic axis, as the share of the stage's samples per bin, p99 marked;
* ``throughput.png``: messages applied per second, and orders, fills and rejects per
  second, over the run (from the samples the session takes about once a second);
* ``depth-SYMBOL.png``: one instrument's book: a heatmap of the shares resting at each
  price (bids and asks, the best :data:`nanogate.live.DEPTH_LEVELS` levels a side)
  over time, with the best bid and ask drawn over it, and beside it the final depth
  ladder (its own price axis, zoomed on the last sample's levels). The instrument is
  the first of the strategies' (``summary["depth_symbol"]``).

``nanogate demo`` adds the day's compliance report (``compliance-DATE.md`` and its
charts, :mod:`nanogate.control.report`) to the same folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.control.report import pyplot
from nanogate.live import DepthSample, RunRecord

SUMMARY = "summary.json"
LATENCY_PNG = "latency-histogram.png"
THROUGHPUT_PNG = "throughput.png"
MAX_PRICE_ROWS = 240  # rows of the depth heatmap: finer books are binned


def write_report(out: Path, summary: dict[str, Any], record: RunRecord) -> dict[str, Path]:
    """Write summary.json and the charts into ``out`` (created); returns path by kind.

    A chart without data (no latency recorded, fewer than two timeline samples, no
    depth sample) is not drawn, and is absent from the result and from
    ``summary["report"]``.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plt = pyplot()
    for kind, draw in (("latency_histogram", _latency), ("throughput", _throughput),
                       ("depth", _depth)):
        path = draw(plt, out, summary, record)
        if path is not None:
            written[kind] = path
    summary["report"] = {kind: path.name for kind, path in written.items()}
    summary_path = out / SUMMARY
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {"summary": summary_path, **written}


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- latency ----------------------------------------------------------------------------

def _latency(plt: Any, out: Path, summary: dict[str, Any], record: RunRecord) -> Path | None:
    stages = {stage: buckets for stage, buckets in record.latency_ns.items()
              if sum(count for _, count in buckets)}
    if not stages:
        return None
    low = min(ns for buckets in stages.values() for ns, _ in buckets) / 1000.0
    high = max(ns for buckets in stages.values() for ns, _ in buckets) / 1000.0
    low, high = max(low / 1.5, 1e-3), max(high * 1.5, low * 10)
    edges = np.logspace(math.log10(low), math.log10(high), 60)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    percentiles = summary.get("latency_us", {})
    for i, (stage, buckets) in enumerate(stages.items()):
        values = np.array([ns / 1000.0 for ns, _ in buckets])
        counts = np.array([count for _, count in buckets], dtype=float)
        hist, _ = np.histogram(values, bins=edges, weights=counts)
        color = f"C{i}"
        p99 = percentiles.get(stage, {}).get("p99")
        label = f"{stage} (n={int(counts.sum()):,}" + (f", p99 {p99:,.0f} us)" if p99 else ")")
        ax.stairs(hist / counts.sum(), edges, label=label, color=color, linewidth=1.5)
        if p99:
            ax.axvline(p99, color=color, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("latency (us, log scale)")
    ax.set_ylabel("share of the stage's samples")
    ax.set_title("Latency by stage (HdrHistogram; dotted: p99)")
    ax.legend(fontsize=8)
    return _save(plt, fig, out / LATENCY_PNG)


# --- throughput -------------------------------------------------------------------------

def _throughput(plt: Any, out: Path, summary: dict[str, Any],
                record: RunRecord) -> Path | None:
    samples = sorted(record.timeline)
    if len(samples) < 2:
        return None
    t = np.array([s[0] for s in samples])
    cumulative = np.array([s[1:] for s in samples], dtype=float)
    keep = np.concatenate(([True], np.diff(t) > 1e-3))  # samples at one instant: the first
    t, cumulative = t[keep], cumulative[keep]
    if len(t) < 2:
        return None
    rates = np.diff(cumulative, axis=0).T / np.diff(t)  # per interval between samples
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.stairs(rates[0], t, fill=True, alpha=0.4, color="C0")
    top.stairs(rates[0], t, color="C0")
    top.set_ylabel("messages / s")
    top.set_title(f"Throughput: {summary.get('messages', 0):,} messages, "
                  f"{summary.get('orders', 0):,} orders, {summary.get('fills', 0):,} fills")
    for row, label, color in ((1, "orders / s", "C1"), (2, "fills / s", "C2"),
                              (3, "rejects / s", "C3")):
        bottom.stairs(rates[row], t, label=label, color=color)
    bottom.set_ylabel("per second")
    bottom.set_xlabel("seconds into the run")
    bottom.legend(fontsize=8)
    return _save(plt, fig, out / THROUGHPUT_PNG)


# --- depth ------------------------------------------------------------------------------

def depth_grid(samples: list[DepthSample], max_rows: int = MAX_PRICE_ROWS
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time edges, price edges, shares[price row, time column]): bids > 0, asks < 0.

    Prices are put on a regular grid of the book's smallest price step (coarser when
    that would take more than ``max_rows`` rows); a time column spans from halfway to
    the previous sample to halfway to the next one.
    """
    prices = sorted({p for s in samples for p, _ in s.bids + s.asks})
    steps = np.diff(prices)
    tick = int(steps[steps > 0].min()) if len(steps) and (steps > 0).any() else 100
    low, high = prices[0], prices[-1]
    rows = (high - low) // tick + 1
    if rows > max_rows:
        tick = -(-(high - low + 1) // max_rows)
        rows = (high - low) // tick + 1
    grid = np.zeros((rows, len(samples)))
    for column, sample in enumerate(samples):
        for side, levels in ((1, sample.bids), (-1, sample.asks)):
            for price, shares in levels:
                grid[(price - low) // tick, column] += side * shares
    t = np.array([s.t_s for s in samples], dtype=float)
    if len(t) == 1:
        t_edges = np.array([t[0] - 0.5, t[0] + 0.5])
    else:
        middle = (t[1:] + t[:-1]) / 2
        t_edges = np.concatenate(([t[0] - (middle[0] - t[0])], middle,
                                  [t[-1] + (t[-1] - middle[-1])]))
    price_edges = (low + (np.arange(rows + 1) - 0.5) * tick) / 10_000
    return t_edges, price_edges, grid


def _depth(plt: Any, out: Path, summary: dict[str, Any], record: RunRecord) -> Path | None:
    samples = [s for s in record.depth if s.bids or s.asks]
    symbol = record.depth_symbol
    if not samples or not symbol:
        return None
    t_edges, price_edges, grid = depth_grid(samples)
    fig, (heat, ladder) = plt.subplots(1, 2, figsize=(11, 5),
                                       gridspec_kw={"width_ratios": [3, 1]})
    scale = float(np.abs(grid).max()) or 1.0
    mesh = heat.pcolormesh(t_edges, price_edges, np.ma.masked_equal(grid, 0), cmap="RdBu",
                           vmin=-scale, vmax=scale, shading="flat")
    t = [s.t_s for s in samples]
    for levels, label, color in (([s.bids for s in samples], "best bid", "navy"),
                                 ([s.asks for s in samples], "best ask", "darkred")):
        best = [lv[0][0] / 10_000 if lv else np.nan for lv in levels]
        heat.plot(t, best, color=color, linewidth=0.8, label=label)
    heat.set_xlabel("seconds into the run")
    heat.set_ylabel("price ($)")
    heat.set_title(f"{symbol}: depth over time (blue bids, red asks; best "
                   f"{max(len(s.bids) for s in samples)} levels a side)")
    heat.legend(fontsize=8, loc="upper left")
    fig.colorbar(mesh, ax=heat, label="shares (bids +, asks -)")
    last = samples[-1]
    for side, color, label in ((last.bids, "tab:blue", "bids"), (last.asks, "tab:red", "asks")):
        if side:
            ladder.barh([p / 10_000 for p, _ in side], [q for _, q in side],
                        height=(price_edges[1] - price_edges[0]) * 0.8, color=color, label=label)
    ladder.set_xlabel("shares")
    ladder.set_ylabel("price ($)")
    ladder.yaxis.set_label_position("right")
    ladder.yaxis.tick_right()
    ladder.set_title(f"final ladder at {last.t_s:.1f} s")
    ladder.legend(fontsize=8)
    name = "".join(ch if ch.isalnum() else "_" for ch in symbol)
    return _save(plt, fig, out / f"depth-{name}.png")
