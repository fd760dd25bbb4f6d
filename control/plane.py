"""The control plane's logic: state in the store, limits and halts in the device.

One lock orders every change, so the store, the audit chain and the register writes
happen in the same order. Tightening changes (halt, reduce-only on) reach the
registers first and are then recorded, so a halt takes effect even if the disk is
slow; loosening ones (resume, limits) are recorded first. Either way the caller is
answered only after the audit row is committed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nanogate import __version__
from nanogate.control import registers as regs
from nanogate.control.errors import ControlError, conflict, invalid, not_found
from nanogate.control.spec import SpecError, StrategySpec, parse_spec
from nanogate.control.store import NewEvent, Store, now
from nanogate.gateway.device import RiskEngine
from nanogate.gateway.risk.limits import table_sizes
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.risk import (
    ORDER_DTYPE,
    UPDATE_DTYPE,
    Side,
    UpdateKind,
    reason_names,
)

SIDES = {pb.SIDE_BUY: Side.BUY, pb.SIDE_SELL: Side.SELL, pb.SIDE_SELL_SHORT: Side.SELL_SHORT}
EVENT_TYPES = ("halt", "resume", "limit_change", "risk_reject", "gap", "alert", "fill",
               "cancel", "strategy", "reduce_only", "symbols")


class Latencies:
    """The last N samples of each timed path, for percentiles in Status."""

    def __init__(self, keep: int = 10_000) -> None:
        self._samples: dict[str, deque[int]] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def add(self, name: str, ns: int) -> None:
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self._keep)).append(ns)

    def summary(self) -> list[pb.Percentiles]:
        with self._lock:
            items = {name: np.array(s, dtype=np.float64) for name, s in self._samples.items()}
        return [pb.Percentiles(name=name, count=len(a), p50_us=float(np.percentile(a, 50)) / 1e3,
                               p99_us=float(np.percentile(a, 99)) / 1e3,
                               max_us=float(a.max()) / 1e3)
                for name, a in sorted(items.items()) if len(a)]


@dataclass(frozen=True)
class OpenOrder:
    client_order_id: int
    account: int
    locate: int
    side: int
    quantity: int
    price: int


#: Told of every state change after it is committed: (action, detail). Called with the
#: plane's lock held, so a listener must not block (queue the work and return).
Listener = Callable[[str, dict[str, Any]], None]
#: Fills in the parts of Status the plane does not own (feed lines, stage latencies).
StatusSource = Callable[[pb.Status], None]


class OrderEntry(Protocol):
    """The gateway's order router, as mass cancel sees it."""

    def cancel_orders(self, account: int | None, locate: int | None, side: Side | None,
                      reason: str) -> list[int]:
        """Cancel the live orders that match; returns their client order ids."""
        ...


def _target_text(target: pb.Target, locate: int | None) -> str:
    if target.scope == pb.SCOPE_GLOBAL:
        return "global"
    if target.scope == pb.SCOPE_ACCOUNT:
        return f"account/{target.account}"
    return f"instrument/{locate}"


class ControlPlane:
    def __init__(self, store: Store, engine: RiskEngine, device: str = "software") -> None:
        self.store = store
        self.engine = engine
        self.device = device
        self.lock = threading.RLock()
        self.latencies = Latencies()
        self.started = time.monotonic()
        self.instruments, self.accounts = table_sizes(engine)
        self.open_orders: dict[tuple[int, int], OpenOrder] = {}
        self.listeners: list[Listener] = []
        self.status_sources: list[StatusSource] = []
        self.order_entry: OrderEntry | None = None
        self.restore()

    # --- what the gateway attaches ------------------------------------------------------

    def publish(self, events: Sequence[NewEvent], actor: str = "gateway") -> None:
        """Events from the data path (gaps, alerts, fills, breaches): no state change."""
        if events:
            self.store.add_events(events, actor)

    def _changed(self, action: str, detail: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(action, detail)

    # --- state -> device ------------------------------------------------------------

    def restore(self) -> None:
        """Write the stored limits, halts and reduce-only flags into the device."""
        with self.lock:
            halted = self.store.get("halt/global") is not None
            self.engine.write_register("kill_switch", int(halted))
            locates = {int(k.rsplit("/", 1)[1]) for prefix in ("instrument/", "halt/instrument/")
                       for k in self.store.items(prefix)}
            accounts = {int(k.rsplit("/", 1)[1]) for prefix in
                        ("account/", "halt/account/", "reduce_only/")
                        for k in self.store.items(prefix)}
            for locate in sorted(locates):
                self._push_instrument(locate)
            for account in sorted(accounts):
                self._push_account(account)

    def _push_instrument(self, locate: int, halted: bool | None = None) -> None:
        if halted is None:
            halted = self.store.get(f"halt/instrument/{locate}") is not None
        writes = regs.instrument_writes(self.store.get(f"instrument/{locate}"), halted)
        regs.write_all(self.engine, [*writes, ("inst_commit", locate)])

    def _push_account(self, account: int, halted: bool | None = None,
                      reduce_only: bool | None = None) -> None:
        if halted is None:
            halted = self.store.get(f"halt/account/{account}") is not None
        if reduce_only is None:
            reduce_only = self.store.get(f"reduce_only/{account}") is not None
        writes = regs.account_writes(self.store.get(f"account/{account}"), halted, reduce_only)
        regs.write_all(self.engine, [*writes, ("acct_commit", account)])

    # --- symbols ----------------------------------------------------------------------

    def symbols(self) -> dict[str, int]:
        return {k.split("/", 1)[1]: int(v) for k, v in self.store.items("symbol/").items()}

    def symbol_of(self, locate: int) -> str:
        for symbol, value in self.symbols().items():
            if value == locate:
                return symbol
        return ""

    def resolve(self, symbol: str, field: str = "symbol") -> int:
        """A symbol (or a stock locate written as digits) -> its stock locate."""
        if not symbol:
            raise invalid("an instrument is required", field, "expected a symbol, found nothing")
        if symbol.isdigit():
            locate = int(symbol)
        else:
            value = self.store.get(f"symbol/{symbol}")
            if value is None:
                raise not_found(f"unknown symbol {symbol!r}: map it to a stock locate first "
                                "(ngctl symbols SYM=LOCATE, or limits set --locate)")
            locate = int(value)
        if not 0 <= locate < self.instruments:
            raise invalid(f"stock locate {locate} is outside the instrument table "
                          f"(0..{self.instruments - 1})", field)
        return locate

    def set_symbols(self, actor: str, symbols: Iterable[pb.Symbol]) -> pb.SymbolList:
        with self.lock:
            current = self.symbols()
            changes: dict[str, Any] = {}
            for index, item in enumerate(symbols):
                where = f"symbols[{index}]"
                if not item.symbol or item.symbol.isdigit() or len(item.symbol) > 8:
                    raise invalid(f"{where}: bad symbol {item.symbol!r}", f"{where}.symbol",
                                  "expected 1 to 8 characters, not all digits")
                if item.stock_locate >= self.instruments:
                    raise invalid(f"{where}: stock locate {item.stock_locate} is outside the "
                                  f"table (0..{self.instruments - 1})", f"{where}.stock_locate")
                holder = next((s for s, v in current.items()
                               if v == item.stock_locate and s != item.symbol), None)
                if holder is not None:
                    raise conflict(f"stock locate {item.stock_locate} is already {holder}")
                current[item.symbol] = item.stock_locate
                changes[f"symbol/{item.symbol}"] = item.stock_locate
            if changes:
                self.store.change(actor, "set_symbols", "symbols", changes,
                                  [NewEvent("symbols", f"{len(changes)} symbol(s) mapped",
                                            {"symbols": changes})])
        return self.list_symbols()

    def list_symbols(self) -> pb.SymbolList:
        return pb.SymbolList(symbols=[pb.Symbol(symbol=s, stock_locate=v)
                                      for s, v in sorted(self.symbols().items())])

    # --- limits -------------------------------------------------------------------------

    @staticmethod
    def _merge(current: dict[str, Any] | None, message: Any, keys: tuple[str, ...],
               where: str) -> dict[str, Any]:
        entry = dict.fromkeys(keys, 0) | (current or {})
        for key in keys:
            if message.HasField(key):
                value = getattr(message, key)
                if not isinstance(value, bool) and not 0 <= value < 1 << regs.BITS[key]:
                    raise invalid(f"{where}.{key}: {value} is out of range "
                                  f"0..{(1 << regs.BITS[key]) - 1}", f"{where}.{key}",
                                  f"expected 0..{(1 << regs.BITS[key]) - 1}, found {value}")
                entry[key] = value
        if "restricted" in entry:
            entry["restricted"] = bool(entry["restricted"])
        return entry

    def set_instrument_limits(self, actor: str, request: pb.SetInstrumentLimitsRequest) \
            -> pb.InstrumentLimits:
        limits = request.limits
        with self.lock:
            changes: dict[str, Any] = {}
            if request.register_symbol:
                if not limits.symbol or limits.symbol.isdigit():
                    raise invalid("register_symbol needs a symbol", "limits.symbol")
                self.set_symbols(actor, [pb.Symbol(symbol=limits.symbol,
                                                   stock_locate=limits.stock_locate)])
            locate = self.resolve(limits.symbol or str(limits.stock_locate), "limits.symbol")
            key = f"instrument/{locate}"
            entry = self._merge(self.store.get(key), limits, regs.INSTRUMENT_KEYS, "limits")
            changes[key] = entry
            row = self.store.change(actor, "set_instrument_limits", key, changes, [
                NewEvent("limit_change", f"instrument {self.symbol_of(locate) or locate} limits "
                         "set", {"stock_locate": locate, "limits": entry})])
            if row is not None:
                self._push_instrument(locate)
            return self._instrument_message(locate, entry)

    def _instrument_message(self, locate: int, entry: dict[str, Any]) -> pb.InstrumentLimits:
        return pb.InstrumentLimits(symbol=self.symbol_of(locate), stock_locate=locate, **entry)

    def _account_message(self, account: int, entry: dict[str, Any]) -> pb.AccountLimits:
        return pb.AccountLimits(account=account, **entry)

    def _check_account(self, account: int, field: str) -> None:
        if account >= self.accounts:
            raise invalid(f"account {account} is outside the account table "
                          f"(0..{self.accounts - 1})", field,
                          f"expected 0..{self.accounts - 1}, found {account}")

    def set_account_limits(self, actor: str, request: pb.SetAccountLimitsRequest) \
            -> pb.AccountLimits:
        limits = request.limits
        self._check_account(limits.account, "limits.account")
        with self.lock:
            key = f"account/{limits.account}"
            entry = self._merge(self.store.get(key), limits, regs.ACCOUNT_KEYS, "limits")
            entry["source"] = "limits"
            row = self.store.change(actor, "set_account_limits", key, {key: entry}, [
                NewEvent("limit_change", f"account {limits.account} limits set",
                         {"account": limits.account, "limits": entry})])
            if row is not None:
                self._push_account(limits.account)
            return self._account_message(limits.account, entry)

    def get_limits(self, request: pb.GetLimitsRequest) -> pb.LimitsSnapshot:
        instruments = {int(k.split("/")[1]): v for k, v in self.store.items("instrument/").items()}
        accounts = {int(k.split("/")[1]): v for k, v in self.store.items("account/").items()}
        if request.symbol:
            locate = self.resolve(request.symbol)
            if locate not in instruments:
                raise not_found(f"no limits set for instrument {request.symbol}")
            instruments = {locate: instruments[locate]}
            accounts = {} if not request.HasField("account") else accounts
        if request.HasField("account"):
            if request.account not in accounts:
                raise not_found(f"no limits set for account {request.account}")
            accounts = {request.account: accounts[request.account]}
            instruments = {} if not request.symbol else instruments
        return pb.LimitsSnapshot(
            instruments=[self._instrument_message(n, e) for n, e in sorted(instruments.items())],
            accounts=[self._account_message(n, e) for n, e in sorted(accounts.items())],
            kill_switch=self.store.get("halt/global") is not None)

    # --- strategies ---------------------------------------------------------------------

    def _strategy_message(self, value: dict[str, Any]) -> pb.Strategy:
        return pb.Strategy(
            name=value["name"], type=value["document"]["spec"]["type"], account=value["account"],
            instruments=value["document"]["spec"]["instruments"],
            spec_json=StrategySpec(value["name"], value["document"]).canonical_json(),
            generation=value["generation"], updated_at=value["updated_at"],
            updated_by=value["updated_by"],
            limits=pb.AccountLimits(account=value["account"], source=f"strategy/{value['name']}",
                                    **value["limits"]))

    def _parse(self, text: str) -> StrategySpec:
        try:
            spec = parse_spec(text)
        except SpecError as error:
            raise ControlError(invalid("").code, f"invalid strategy: {error}",
                               [(v.path, f"expected {v.expected}, found {v.found}")
                                for v in error.violations]) from None
        violations = []
        if spec.account >= self.accounts:
            violations.append(("spec.account", f"expected an account in 0.."
                               f"{self.accounts - 1}, found {spec.account}"))
        symbols = self.symbols()
        for index, symbol in enumerate(spec.instruments):
            if symbol not in symbols:
                violations.append((f"spec.instruments[{index}]",
                                   "expected a symbol known to the server, found "
                                   f"{symbol!r} (map it with `ngctl symbols SYM=LOCATE`)"))
        if violations:
            raise ControlError(invalid("").code, "invalid strategy: " + "; ".join(
                f"{p}: {d}" for p, d in violations), violations)
        return spec

    def apply_strategy(self, actor: str, request: pb.ApplyStrategyRequest) \
            -> pb.ApplyStrategyResponse:
        spec = self._parse(request.spec_yaml)
        with self.lock:
            for other in self.store.items("strategy/").values():
                if other["account"] == spec.account and other["name"] != spec.name:
                    raise conflict(f"account {spec.account} is already used by strategy "
                                   f"{other['name']}")
            key = f"strategy/{spec.name}"
            existing = self.store.get(key)
            limits = spec.account_limits()
            if existing is not None and existing["document"] == spec.document:
                return pb.ApplyStrategyResponse(strategy=self._strategy_message(existing),
                                                result="unchanged")
            value = {"name": spec.name, "document": spec.document, "account": spec.account,
                     "limits": limits, "generation": (existing or {}).get("generation", 0) + 1,
                     "updated_at": now(), "updated_by": actor}
            if request.dry_run:
                return pb.ApplyStrategyResponse(strategy=self._strategy_message(value),
                                                result="valid")
            changes: dict[str, Any] = {key: value, f"account/{spec.account}":
                                       {**limits, "source": f"strategy/{spec.name}"}}
            if existing is not None and existing["account"] != spec.account:
                changes[f"account/{existing['account']}"] = None
            result = "created" if existing is None else "configured"
            self.store.change(actor, f"apply_strategy ({result})", key, changes, [
                NewEvent("strategy", f"strategy {spec.name} {result}",
                         {"name": spec.name, "generation": value["generation"]}),
                NewEvent("limit_change", f"account {spec.account} limits from strategy "
                         f"{spec.name}", {"account": spec.account, "limits": limits})])
            for account_key in changes:
                if account_key.startswith("account/"):
                    self._push_account(int(account_key.split("/")[1]))
            self._changed("apply_strategy", {"name": spec.name, "document": spec.document,
                                             "generation": value["generation"]})
            return pb.ApplyStrategyResponse(strategy=self._strategy_message(value), result=result)

    def get_strategy(self, name: str) -> pb.Strategy:
        value = self.store.get(f"strategy/{name}")
        if value is None:
            raise not_found(f"strategy {name!r} not found")
        return self._strategy_message(value)

    def list_strategies(self) -> pb.ListStrategiesResponse:
        return pb.ListStrategiesResponse(strategies=[
            self._strategy_message(v) for v in self.store.items("strategy/").values()])

    def delete_strategy(self, actor: str, name: str) -> pb.DeleteStrategyResponse:
        with self.lock:
            value = self.store.get(f"strategy/{name}")
            if value is None:
                raise not_found(f"strategy {name!r} not found")
            account_key = f"account/{value['account']}"
            changes: dict[str, Any] = {f"strategy/{name}": None}
            if (self.store.get(account_key) or {}).get("source") == f"strategy/{name}":
                changes[account_key] = None  # the account goes unlisted: its orders halt
            self.store.change(actor, "delete_strategy", f"strategy/{name}", changes,
                              [NewEvent("strategy", f"strategy {name} deleted", {"name": name})])
            self._changed("delete_strategy", {"name": name, "account": value["account"]})
            self._push_account(value["account"])
            return pb.DeleteStrategyResponse(strategy=self._strategy_message(value))

    # --- trading state ------------------------------------------------------------------

    def _halt_key(self, target: pb.Target) -> tuple[str, int | None]:
        if target.scope == pb.SCOPE_GLOBAL:
            return "halt/global", None
        if target.scope == pb.SCOPE_ACCOUNT:
            self._check_account(target.account, "target.account")
            return f"halt/account/{target.account}", None
        if target.scope == pb.SCOPE_INSTRUMENT:
            locate = self.resolve(target.symbol, "target.symbol")
            return f"halt/instrument/{locate}", locate
        raise invalid("a halt needs a scope: global, account or instrument", "target.scope")

    def _push_halt(self, target: pb.Target, locate: int | None, halted: bool) -> None:
        if target.scope == pb.SCOPE_GLOBAL:
            self.engine.write_register("kill_switch", int(halted))
        elif target.scope == pb.SCOPE_ACCOUNT:
            self._push_account(target.account, halted=halted)
        else:
            assert locate is not None
            self._push_instrument(locate, halted=halted)

    def halt(self, actor: str, request: pb.HaltRequest, arrived_ns: int) -> pb.HaltResponse:
        if not request.reason.strip():
            raise invalid("a halt needs a reason", "reason", "expected text, found nothing")
        with self.lock:
            key, locate = self._halt_key(request.target)
            value = {"reason": request.reason, "since": now(), "by": actor,
                     "symbol": request.target.symbol}
            existing = self.store.get(key)
            if existing is not None:
                return pb.HaltResponse(halt=self._halt_message(key, existing), changed=False)
            self._push_halt(request.target, locate, True)  # registers first: stop trading now
            elapsed = time.perf_counter_ns() - arrived_ns
            self.latencies.add("halt_to_register", elapsed)
            what = _target_text(request.target, locate)
            self.store.change(actor, "halt", key, {key: value}, [
                NewEvent("halt", f"{what} halted: {request.reason}", {"target": what, **value})])
            self._changed("halt", {"target": what, "account": request.target.account,
                                   "stock_locate": locate, "reason": request.reason})
            return pb.HaltResponse(halt=self._halt_message(key, value), changed=True,
                                   register_ns=elapsed)

    def resume(self, actor: str, request: pb.ResumeRequest) -> pb.ResumeResponse:
        with self.lock:
            key, locate = self._halt_key(request.target)
            if self.store.get(key) is None:
                return pb.ResumeResponse(changed=False)
            what = _target_text(request.target, locate)
            self.store.change(actor, "resume", key, {key: None}, [
                NewEvent("resume", f"{what} resumed" + (f": {request.reason}"
                                                        if request.reason else ""),
                         {"target": what, "reason": request.reason})])
            self._push_halt(request.target, locate, False)
            self._changed("resume", {"target": what, "account": request.target.account,
                                     "stock_locate": locate})
            return pb.ResumeResponse(changed=True)

    def _halt_message(self, key: str, value: dict[str, Any]) -> pb.Halt:
        parts = key.split("/")
        if parts[1] == "global":
            target = pb.Target(scope=pb.SCOPE_GLOBAL)
            locate = 0
        elif parts[1] == "account":
            target = pb.Target(scope=pb.SCOPE_ACCOUNT, account=int(parts[2]))
            locate = 0
        else:
            locate = int(parts[2])
            target = pb.Target(scope=pb.SCOPE_INSTRUMENT,
                               symbol=self.symbol_of(locate) or value.get("symbol") or parts[2])
        return pb.Halt(target=target, reason=value["reason"], since=value["since"],
                       by=value["by"], stock_locate=locate)

    def set_reduce_only(self, actor: str, request: pb.ReduceOnlyRequest) -> pb.ReduceOnlyResponse:
        self._check_account(request.account, "account")
        with self.lock:
            key = f"reduce_only/{request.account}"
            if (self.store.get(key) is not None) == request.enabled:
                return pb.ReduceOnlyResponse(changed=False)
            value = {"reason": request.reason, "since": now(), "by": actor}
            events = [NewEvent("reduce_only", f"account {request.account} reduce-only "
                               f"{'on' if request.enabled else 'off'}",
                               {"account": request.account, "enabled": request.enabled,
                                "reason": request.reason})]
            if request.enabled:  # tightening: registers first
                self._push_account(request.account, reduce_only=True)
                self.store.change(actor, "reduce_only_on", key, {key: value}, events)
            else:
                self.store.change(actor, "reduce_only_off", key, {key: None}, events)
                self._push_account(request.account)
            self._changed("reduce_only", {"account": request.account,
                                          "enabled": request.enabled})
            return pb.ReduceOnlyResponse(changed=True)

    def trading_state(self) -> pb.TradingState:
        halts = self.store.items("halt/")
        return pb.TradingState(
            kill_switch="halt/global" in halts,
            halts=[self._halt_message(k, v) for k, v in halts.items()],
            reduce_only_accounts=sorted(int(k.split("/")[1])
                                        for k in self.store.items("reduce_only/")))

    # --- orders ---------------------------------------------------------------------------

    def check_order(self, actor: str, request: pb.CheckOrderRequest) -> pb.CheckOrderResponse:
        if request.side not in SIDES:
            raise invalid("side is required", "side", "expected buy, sell or sell_short")
        for name, bits in (("quantity", 32), ("price", 32), ("account", 16)):
            if getattr(request, name) >= 1 << bits:
                raise invalid(f"{name} {getattr(request, name)} does not fit {bits} bits", name)
        started = time.perf_counter_ns()
        with self.lock:
            locate = self.resolve(request.symbol)
            side = SIDES[request.side]
            order = np.array([(request.client_order_id, request.account, locate, int(side), 0,
                               request.quantity, request.price, request.timestamp_ns)],
                             dtype=ORDER_DTYPE)
            decision = self.engine.submit(order)[0]
            accepted = bool(decision["accepted"])
            reasons = reason_names(int(decision["reasons"]))
            if accepted:
                self.open_orders[(request.account, request.client_order_id)] = OpenOrder(
                    request.client_order_id, request.account, locate, int(side),
                    request.quantity, request.price)
        self.latencies.add("check_order", time.perf_counter_ns() - started)
        if not accepted:
            self.store.add_events([NewEvent(
                "risk_reject", f"order {request.client_order_id} of account {request.account} "
                f"rejected: {', '.join(reasons)}",
                {"client_order_id": request.client_order_id, "account": request.account,
                 "stock_locate": locate, "reasons": reasons})], actor)
        return pb.CheckOrderResponse(accepted=accepted, reasons=reasons, stock_locate=locate)

    def mass_cancel(self, actor: str, request: pb.MassCancelRequest) -> pb.MassCancelResponse:
        with self.lock:
            locate = self.resolve(request.symbol) if request.symbol else None
            side = SIDES.get(request.side)
            chosen = [o for o in self.open_orders.values()
                      if (not request.HasField("account") or o.account == request.account)
                      and (locate is None or o.locate == locate)
                      and (side is None or o.side == side
                           or (side == Side.SELL and o.side == Side.SELL_SHORT))]
            if chosen:
                updates = np.array([(o.client_order_id, o.account, o.locate, o.side,
                                     int(UpdateKind.CANCEL), o.quantity, o.price)
                                    for o in chosen], dtype=UPDATE_DTYPE)
                self.engine.apply_updates(updates)
                for o in chosen:
                    del self.open_orders[(o.account, o.client_order_id)]
            filters = {"account": request.account if request.HasField("account") else None,
                       "stock_locate": locate, "side": pb.Side.Name(request.side),
                       "reason": request.reason}
            ids = [o.client_order_id for o in chosen]
            if self.order_entry is not None:  # the gateway's live orders at the venue
                ids += self.order_entry.cancel_orders(
                    request.account if request.HasField("account") else None, locate, side,
                    request.reason or "mass cancel")
            self.store.record(actor, "mass_cancel", "orders", {"filters": filters},
                              {"cancelled": ids},
                              [NewEvent("cancel", f"mass cancel: {len(ids)} order(s)",
                                        {"filters": filters, "cancelled": ids})])
            return pb.MassCancelResponse(cancelled=len(ids), client_order_ids=ids)

    # --- exposure and status --------------------------------------------------------------

    def exposure(self, request: pb.GetExposureRequest) -> pb.ExposureSnapshot:
        with self.lock:
            symbols = self.symbols()
            locates = sorted({*symbols.values(), *(int(k.split("/")[1]) for k in
                                                   self.store.items("instrument/"))})
            if request.symbol:
                locates = [self.resolve(request.symbol)]
            accounts = sorted({int(k.split("/")[1]) for k in self.store.items("account/")}
                              | {o.account for o in self.open_orders.values()})
            if request.HasField("account"):
                self._check_account(request.account, "account")
                accounts = [request.account]
            limits = self.store.items("account/")
            inst_state = getattr(self.engine, "instrument_state", None)
            acct_state = getattr(self.engine, "account_state", None)
            out = pb.ExposureSnapshot()
            for locate in locates:
                mine = [o for o in self.open_orders.values() if o.locate == locate]
                if inst_state is not None:
                    s = inst_state(locate)
                    net, buy, sell = s.net_position, s.open_buy, s.open_sell
                else:  # backends without state inspection: what the control plane sent
                    net = 0
                    buy = sum(o.quantity for o in mine if o.side == Side.BUY)
                    sell = sum(o.quantity for o in mine if o.side != Side.BUY)
                out.instruments.append(pb.InstrumentExposure(
                    symbol=self.symbol_of(locate), stock_locate=locate, net_position=net,
                    open_buy=buy, open_sell=sell))
            for account in accounts:
                mine = [o for o in self.open_orders.values() if o.account == account]
                if acct_state is not None:
                    a = acct_state(account)
                    open_notional, filled = a.open_notional, a.filled_notional
                else:
                    open_notional, filled = sum(o.quantity * o.price for o in mine), 0
                out.accounts.append(pb.AccountExposure(
                    account=account, open_notional=open_notional, filled_notional=filled,
                    credit_used=open_notional + filled,
                    credit_limit=(limits.get(f"account/{account}") or {}).get("credit_limit", 0),
                    open_orders=len(mine)))
            return out

    def status(self) -> pb.Status:
        with self.lock:
            counters = self.engine.counters()
        status = pb.Status(version=__version__, device=self.device,
                           uptime_s=time.monotonic() - self.started, risk_counters=counters,
                           latencies=self.latencies.summary(),
                           last_event_id=self.store.last_event_id(),
                           audit_rows=self.store.audit_count())
        for source in self.status_sources:
            source(status)
        return status
