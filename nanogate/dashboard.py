"""The live terminal dashboard of ``nanogate demo``: one frame a second, plain ANSI.

On a terminal each frame redraws the screen; piped, a frame is printed every few
seconds so a log stays readable. The session draws one last frame after its
end-of-day halt (``session.finished``): that one is always printed, and shows the
numbers the summary reports. Everything shown comes from the session's own
counters: nothing is computed for the screen that the summary does not also report.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from nanogate.gateway.telemetry import STAGES
from nanogate.live import LiveSession
from nanogate.proto.controlapi import control_pb2 as pb

_CLEAR = "\x1b[H\x1b[2J"


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value / 1000:,.1f}ms"


def render(session: LiveSession) -> str:
    """One frame, as text."""
    s = session
    elapsed = time.monotonic() - s.started_at
    stats = s.gateway.arbiter.stats
    rate = stats.messages / elapsed if elapsed > 0 else 0.0
    counters = s.engine.counters
    router = s.router.counters
    ended = "   ENDED (end-of-day halt)" if s.finished else ""
    lines = [
        f"nanogate demo  {elapsed:5.1f}/{s.config.duration_s:.0f} s   device {s.config.device}"
        f"   control {s.control_address}   metrics http://127.0.0.1:{s.metrics.port}/metrics"
        + ended,
        "",
        f"feed    {stats.messages:>10,} messages  {rate:>9,.0f}/s   line A {stats.packets[0]:,} "
        f"pkts, line B {stats.packets[1]:,} pkts, {sum(stats.duplicates):,} duplicates dropped",
        f"        recovered {stats.recovered:,} messages from the rewinder, "
        f"lost {s.gateway.counters_.gap_events} gap(s), state {s.gateway.arbiter.state.value}",
        "",
        f"{'stage':<15}{'count':>9}{'p50 us':>10}{'p95 us':>10}{'p99 us':>10}{'p99.9 us':>10}",
    ]
    for stage in STAGES:
        p = s.telemetry.percentiles_us(stage)
        lines.append(f"{stage:<15}{int(p['count']):>9,}{_us(p['p50']):>10}{_us(p['p95']):>10}"
                     f"{_us(p['p99']):>10}{_us(p['p99.9']):>10}")
    rejects = {k.removeprefix("rejected_"): v for k, v in router.items()
               if k.startswith("rejected_") and k.count("_") >= 2}
    lines += [
        "",
        f"orders  {counters['orders']:,} sent, {counters['cancels']:,} cancels, "
        f"{counters['fills']:,} fills, rejects: "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(rejects.items())) or "none"),
    ]
    state = s.plane.trading_state()
    halts = [_halt_text(h) for h in state.halts if h.target.scope != pb.SCOPE_GLOBAL]
    lines.append("halts   " + ("KILL SWITCH ON; " if state.kill_switch else "")
                 + (", ".join(halts) if halts else "none"))
    names = {n: sym for sym, n in s.symbols.items()}
    lines += ["", f"{'strategy':<16}{'pnl $':>12}   positions"]
    for name, strategy in sorted(s.engine.strategies.items()):
        held = ", ".join(f"{names.get(n, n)} {q:+,}" for n, q in strategy.positions.items() if q)
        lines.append(f"{name:<16}{s.engine.ledger.equity_of(name):>12,.2f}   "
                     f"{held or 'flat'}{'  [HALTED]' if strategy.halted else ''}")
    return "\n".join(lines) + "\n"


def _halt_text(halt: pb.Halt) -> str:
    if halt.target.scope == pb.SCOPE_ACCOUNT:
        return f"account {halt.target.account} ({halt.reason})"
    return f"{halt.target.symbol} ({halt.reason})"


class Dashboard:
    def __init__(self, out: TextIO = sys.stdout, every_s: float = 5.0) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, session: LiveSession) -> None:
        now = time.monotonic()
        if self.tty:
            self.out.write(_CLEAR + render(session))
        elif session.finished or now - self._last >= self.every_s:
            self._last = now
            self.out.write(render(session) + "\n")
        self.out.flush()
