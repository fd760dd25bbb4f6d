"""ngctl's output: tables for people, JSON and YAML (every field) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from nanogate.proto.controlapi import control_pb2 as pb

Row = list[str]


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)


def render(value: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(value, indent=2, sort_keys=True) + "\n"
    return str(yaml.safe_dump(value, sort_keys=False))


def table(header: Sequence[str], rows: Sequence[Row]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = ["   ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
             for line in (header, *rows)]
    return "\n".join(lines) + "\n"


def _opt(message: Any, key: str) -> str:
    return str(getattr(message, key)) if message.HasField(key) else "-"


def _strategies(items: Sequence[Any]) -> str:
    return table(("NAME", "TYPE", "ACCOUNT", "INSTRUMENTS", "GEN", "UPDATED"),
                 [[s.name, s.type, str(s.account), ",".join(s.instruments), str(s.generation),
                   s.updated_at] for s in items])


def _limits(items: Sequence[Any]) -> str:
    snap: pb.LimitsSnapshot = items[0]
    keys = ("reference_price", "collar_bps", "max_qty", "max_notional", "max_long",
            "max_short", "restricted")
    out = f"kill switch: {'ON' if snap.kill_switch else 'off'}\n"
    if snap.instruments:
        out += "\n" + table(("SYMBOL", "LOCATE", *(k.upper() for k in keys)),
                            [[i.symbol or "-", str(i.stock_locate), *(_opt(i, k) for k in keys)]
                             for i in snap.instruments])
    if snap.accounts:
        out += "\n" + _accounts(snap.accounts)
    return out


def _accounts(items: Sequence[Any]) -> str:
    return table(("ACCOUNT", "CREDIT_LIMIT", "RATE_PER_S", "BURST", "SOURCE"),
                 [[str(a.account), _opt(a, "credit_limit"), _opt(a, "rate_per_s"),
                   _opt(a, "burst"), a.source] for a in items])


def _halts(items: Sequence[Any]) -> str:
    state: pb.TradingState = items[0]
    scope = {pb.SCOPE_GLOBAL: "global", pb.SCOPE_ACCOUNT: "account",
             pb.SCOPE_INSTRUMENT: "instrument"}
    rows = [[scope.get(h.target.scope, "?"),
             str(h.target.account) if h.target.scope == pb.SCOPE_ACCOUNT
             else h.target.symbol or "-", h.reason, h.by, h.since] for h in state.halts]
    out = f"kill switch: {'ON' if state.kill_switch else 'off'}\n"
    out += f"reduce-only accounts: {', '.join(map(str, state.reduce_only_accounts)) or 'none'}\n"
    return out + ("\n" + table(("SCOPE", "TARGET", "REASON", "BY", "SINCE"), rows)
                  if rows else "no halts\n")


def _exposure(items: Sequence[Any]) -> str:
    snap: pb.ExposureSnapshot = items[0]
    out = table(("SYMBOL", "LOCATE", "NET", "OPEN_BUY", "OPEN_SELL"),
                [[i.symbol or "-", str(i.stock_locate), str(i.net_position), str(i.open_buy),
                  str(i.open_sell)] for i in snap.instruments]) if snap.instruments else ""
    if snap.accounts:
        out += ("\n" if out else "") + table(
            ("ACCOUNT", "OPEN_NOTIONAL", "FILLED_NOTIONAL", "CREDIT_USED", "CREDIT_LIMIT",
             "OPEN_ORDERS"),
            [[str(a.account), str(a.open_notional), str(a.filled_notional),
              str(a.credit_used), str(a.credit_limit), str(a.open_orders)]
             for a in snap.accounts])
    return out or "no exposure\n"


def _audit(items: Sequence[Any]) -> str:
    return table(("ID", "TIME", "ACTOR", "ACTION", "TARGET", "HASH"),
                 [[str(r.id), r.time, r.actor, r.action, r.target, r.hash[:12]]
                  for r in items])


def _status(items: Sequence[Any]) -> str:
    s: pb.Status = items[0]
    out = (f"version {s.version}   device {s.device}   uptime {s.uptime_s:.0f}s   "
           f"events {s.last_event_id}   audit rows {s.audit_rows}\n")
    out += "feed lines: " + (", ".join(f"{f.name} {f.packets} pkts {f.gaps} gaps"
                                       for f in s.feed_lines) or "none attached") + "\n"
    if s.latencies:
        out += "\n" + table(("LATENCY", "COUNT", "P50_US", "P99_US", "MAX_US"),
                            [[p.name, str(p.count), f"{p.p50_us:.1f}", f"{p.p99_us:.1f}",
                              f"{p.max_us:.1f}"] for p in s.latencies])
    counters = sorted(s.risk_counters.items())
    return out + "\n" + table(("COUNTER", "VALUE"), [[k, str(v)] for k, v in counters])


TABLES: dict[str, Callable[[Sequence[Any]], str]] = {
    "strategies": _strategies, "limits": _limits, "halts": _halts, "exposure": _exposure,
    "audit": _audit, "status": _status,
    "account-limits": _accounts,
    "instrument-limits": lambda items: _limits([pb.LimitsSnapshot(instruments=items)]),
    "symbols": lambda items: table(("SYMBOL", "LOCATE"),
                                   [[s.symbol, str(s.stock_locate)] for s in items]),
    "events": lambda items: "".join(f"{e.id:>6}  {e.time}  {e.type:<12} {e.actor:<10} "
                                    f"{e.summary}\n" for e in items),
}


def print_rows(kind: str, items: Sequence[Message], fmt: str, single: bool = False,
               stream: bool = False) -> None:
    if fmt == "table":
        text = TABLES[kind](items) if items else f"no {kind}\n"
    elif stream and fmt == "json":  # one JSON object a line: easy to pipe
        text = "".join(json.dumps(as_dict(m), sort_keys=True) + "\n" for m in items)
    else:
        dicts = [as_dict(m) for m in items]
        value: Any = dicts[0] if single or stream else dicts
        text = render(value, fmt) + ("---\n" if stream and fmt == "yaml" else "")
    sys.stdout.write(text)
