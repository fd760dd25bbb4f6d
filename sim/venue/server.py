"""The venue: SoupBinTCP sessions carrying OUCH 5.0, one matching engine behind them.

Threads, not asyncio: one thread accepts, one thread per connection reads, and one
lock serialises everything that touches the books, the accounts' message logs and
the sockets' output. Matching is pure CPU work on shared state, so a lock is all the
concurrency it needs; the sessions are few (one per strategy account); and blocking
sockets keep every test and the gateway's own synchronous client free of an event
loop they would otherwise have to share.

Each account (SoupBinTCP user name) has one log of sequenced messages for the whole
run; a login names the sequence number to resume from, and the venue sends the log
from there, then a Server Heartbeat straight away so that the client knows it has
caught up. A second login of a connected account takes the session over (the old
connection is closed first, and what it still had in flight is dropped, counted as
``stale_connection``), which is what a client that reconnects after a silent network
failure needs.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from nanogate.proto import ouch, soupbintcp
from nanogate.proto.ouch import CancelReason, Direction, OuchError, RejectCode
from nanogate.proto.soupbintcp import Packet, PacketType, RejectReason, SoupError
from nanogate.proto.wire import Value
from nanogate.sim.venue.matching import Fill, MatchingEngine
from nanogate.sim.venue.seed import FeedFollower, SeedOrder, seed_engine

_NS_PER_DAY = 86_400 * 1_000_000_000
_SIDES = {"B": True, "S": False, "T": False, "E": False}
_TICK_S = 0.05  # how often an idle connection thread checks its heartbeats
#: A client whose receive buffer stays full this long is dropped, rather than let it
#: stall the venue (sends happen under the one lock).
_SEND_TIMEOUT_S = 2.0

#: This venue's reasons for an Order Rejected, each with the OUCH 5.0 Reject Reason code it
#: sends (``RejectCode``, the spec's table); where the spec has no code of its own the venue
#: sends OTHER (0x0F) and only its counters (``rejected_<reason>``) keep the detail. Two of
#: them differ from NASDAQ on purpose: the spec silently ignores a UserRefNum that is not
#: above the last one (a retransmission) and a replace of an order no longer live; this
#: venue rejects both, so a client under test sees why.
REJECTS: dict[str, RejectCode] = {
    "unknown_symbol": RejectCode.INVALID_SYMBOL,  # 0x17
    "invalid_quantity": RejectCode.INVALID_QUANTITY,  # 0x13: 0, or above MAX_QUANTITY
    "invalid_price": RejectCode.INVALID_PRICE,  # 0x1D: 0
    "invalid_side": RejectCode.INVALID_SIDE,  # 0x09
    "duplicate_user_ref_num": RejectCode.OTHER,  # not above every one the account used
    "unknown_order": RejectCode.OTHER,  # replace of an order that is not live
    "invalid_time_in_force": RejectCode.OTHER,  # anything but day and IOC
    "unsupported_appendage": RejectCode.OTHER,  # optional appendages are not read
}


def _now() -> int:
    """OUCH timestamps: nanoseconds since midnight (UTC here)."""
    return time.time_ns() % _NS_PER_DAY


class _Account:
    def __init__(self, username: str) -> None:
        self.username = username
        self.log: list[bytes] = []  # sequenced messages; sequence number = index + 1
        self.orders: dict[int, int] = {}  # UserRefNum -> venue order ref, live orders
        self.sides: dict[int, str] = {}  # UserRefNum -> OUCH side letter
        self.last_user_ref_num = 0
        self.connection: _Connection | None = None


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.account: _Account | None = None
        self.closed = False
        now = time.monotonic()
        self.last_recv = now
        self.last_send = now


class VenueServer:
    """The simulated venue on ``host:port`` (port 0: any free port; see :attr:`address`).

    ``users``: user name -> password; None accepts any login (development).
    ``seed``: resting orders to start from (:func:`~nanogate.sim.venue.seed.seed_orders`).
    ``symbols``: symbols accepted besides those of the seed.
    """

    def __init__(self, seed: Iterable[SeedOrder] = (), users: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0, session: str = "NGVENUE",
                 symbols: Iterable[str] = (), heartbeat_s: float = 1.0,
                 idle_timeout_s: float = 15.0) -> None:
        self.session = session
        self.heartbeat_s = heartbeat_s
        self.idle_timeout_s = idle_timeout_s
        self.counters: Counter[str] = Counter()
        self.engine = MatchingEngine(tuple(symbols))
        self._seed_refs: dict[int, int] = {}
        self.counters["seed_crossed_shares"] = seed_engine(self.engine, list(seed),
                                                           self._seed_refs)
        self.symbols = frozenset(self.engine.books)
        self._users = dict(users) if users is not None else None
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._swallow = 0
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(_TICK_S * 4)
        self._accept_thread = threading.Thread(target=self._accept, name="venue-accept",
                                               daemon=True)
        self._accept_thread.start()
        self.follower: FeedFollower | None = None

    def follow(self, events: np.ndarray, symbols: dict[int, str], rate: float) -> FeedFollower:
        """Play the ITCH session after the seed point as the market's flow, ``rate`` events
        per second (see :class:`FeedFollower`); orders of ours it trades with are told."""
        follower = FeedFollower(self.engine, events, symbols, self._seed_refs)
        self.follower = follower
        thread = threading.Thread(target=self._follow, args=(follower, rate),
                                  name="venue-follow", daemon=True)
        self._threads.append(thread)
        thread.start()
        return follower

    def _follow(self, follower: FeedFollower, rate: float) -> None:
        started = time.monotonic()
        while follower.remaining and not self._stopping.wait(_TICK_S):
            due = int((time.monotonic() - started) * rate) - follower.applied
            with self._lock:
                for fill in follower.step(max(due, 0)):
                    self._tell_maker(fill)
                self.counters["flow_events"] = follower.applied

    def follow_stepped(self, events: np.ndarray, symbols: dict[int, str]) -> FeedFollower:
        """Like :meth:`follow`, with no thread: the caller advances the flow with
        :meth:`step_flow`, in step with its own use of the same events (a replay)."""
        follower = FeedFollower(self.engine, events, symbols, self._seed_refs)
        self.follower = follower
        return follower

    def step_flow(self, count: int) -> int:
        """Apply the next ``count`` events of the flow now, under the lock, telling the
        makers of the fills; returns how many fills of our orders that made. Once it
        returns, what those fills sent is in the accounts' logs (:meth:`sequence`)."""
        follower = self.follower
        if follower is None:
            raise RuntimeError("step_flow: no flow to step (call follow_stepped first)")
        with self._lock:
            fills = follower.step(max(count, 0))
            for fill in fills:
                self._tell_maker(fill)
            self.counters["flow_events"] = follower.applied
        return len(fills)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def __enter__(self) -> VenueServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End of Session to every client, then stop (idempotent)."""
        if self._stopping.is_set():
            return
        with self._lock:  # before any session thread sees the stop and drops its connection
            self._stopping.set()
            for account in self._accounts.values():
                conn = account.connection  # a failed send drops it and clears the field
                if conn is not None:
                    self._send(conn, soupbintcp.END_OF_SESSION)
                    self._drop(conn)
        self._listener.close()
        self._accept_thread.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)

    # --- test and operator hooks ----------------------------------------------------------

    def disconnect(self, username: str) -> bool:
        """Close an account's connection as a network failure would (no End of Session)."""
        with self._lock:
            account = self._accounts.get(username)
            if account is None or account.connection is None:
                return False
            self._drop(account.connection)
            return True

    def swallow_inbound(self, messages: int) -> None:
        """Read and ignore the next ``messages`` OUCH messages, as if lost in flight."""
        with self._lock:
            self._swallow = messages

    def sequence(self, username: str) -> int:
        """Sequenced messages generated for an account so far."""
        with self._lock:
            account = self._accounts.get(username)
            return len(account.log) if account else 0

    def messages(self, username: str) -> list[bytes]:
        with self._lock:
            account = self._accounts.get(username)
            return list(account.log) if account else []

    # --- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(_SEND_TIMEOUT_S)  # reads wait in select(), never in recv()
            self.counters["connections"] += 1
            thread = threading.Thread(target=self._serve, args=(_Connection(sock),),
                                      name="venue-session", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: _Connection) -> None:
        decoder = soupbintcp.Decoder()
        try:
            while not conn.closed and not self._stopping.is_set():
                try:
                    ready, _, _ = select.select([conn.sock], [], [], _TICK_S)
                    data = conn.sock.recv(65536) if ready else None
                except (OSError, ValueError):  # ValueError: closed by another thread
                    break
                if data == b"":
                    break
                if data:
                    conn.last_recv = time.monotonic()
                    try:
                        packets = decoder.feed(data)
                    except SoupError as error:
                        self._count(f"malformed_frame_{error.fault}")
                        break
                    if not all(self._on_packet(conn, p) for p in packets):
                        break
                if not self._keepalive(conn):
                    break
        finally:
            with self._lock:
                self._drop(conn)

    def _keepalive(self, conn: _Connection) -> bool:
        now = time.monotonic()
        if now - conn.last_recv > self.idle_timeout_s:
            self._count("heartbeat_timeout")
            return False
        if conn.account is not None and now - conn.last_send >= self.heartbeat_s:
            with self._lock:
                self._send(conn, soupbintcp.SERVER_HEARTBEAT)
        return True

    def _send(self, conn: _Connection, data: bytes) -> None:
        """Write under the lock (so sequenced messages go out in log order)."""
        if conn.closed:
            return
        try:
            conn.sock.sendall(data)
            conn.last_send = time.monotonic()
        except OSError:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        if conn.account is not None and conn.account.connection is conn:
            conn.account.connection = None
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.sock.close()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    # --- SoupBinTCP ------------------------------------------------------------------------

    def _on_packet(self, conn: _Connection, packet: Packet) -> bool:
        """Handle one packet; False drops the connection."""
        if conn.account is None:
            if packet.type is not PacketType.LOGIN_REQUEST:
                self._count("not_logged_in")
                return False
            return self._login(conn, packet.payload)
        if packet.type is PacketType.UNSEQUENCED_DATA:
            with self._lock:
                if conn.account.connection is not conn:
                    self.counters["stale_connection"] += 1
                    return False
                self._on_message(conn.account, packet.payload)
            return True
        if packet.type is PacketType.LOGOUT_REQUEST:
            self._count("logouts")
            return False
        if packet.type in (PacketType.CLIENT_HEARTBEAT, PacketType.DEBUG):
            return True
        self._count("unexpected_packet")
        return packet.type is not PacketType.LOGIN_REQUEST  # a second login: drop

    def _login(self, conn: _Connection, payload: bytes) -> bool:
        try:
            request = soupbintcp.parse_login_request(payload)
        except SoupError as error:
            self._count(f"malformed_frame_{error.fault}")
            return False
        reason: RejectReason | None = None
        if self._users is not None and self._users.get(request.username) != request.password:
            reason = RejectReason.NOT_AUTHORIZED
        elif request.requested_session not in ("", self.session):
            reason = RejectReason.SESSION_UNAVAILABLE
        with self._lock:
            if reason is not None:
                self.counters[f"login_rejected_{reason.name.lower()}"] += 1
                self._send(conn, soupbintcp.login_rejected(reason))
                return False
            account = self._accounts.get(request.username)
            if account is None:
                account = self._accounts[request.username] = _Account(request.username)
                account.log.append(ouch.encode_outbound(
                    type="S", timestamp=_now(), event_code=ouch.EVENT_START_OF_DAY))
            if account.connection is not None:
                self.counters["takeovers"] += 1
                self._drop(account.connection)
            first = request.requested_sequence_number
            if not 1 <= first <= len(account.log) + 1:
                first = len(account.log) + 1  # 0 or beyond the end: from the next message
            self.counters["logins"] += 1
            self.counters["replayed"] += len(account.log) - first + 1
            conn.account = account
            account.connection = conn
            self._send(conn, soupbintcp.login_accepted(
                soupbintcp.LoginAccepted(self.session, first)))
            for message in account.log[first - 1:]:
                self._send(conn, soupbintcp.sequenced(message))
            self._send(conn, soupbintcp.SERVER_HEARTBEAT)  # marks the end of the replay
        return True

    # --- OUCH (called with the lock held) --------------------------------------------------

    def _emit(self, account: _Account, **fields: Value) -> None:
        message = ouch.encode_outbound(timestamp=_now(), **fields)
        account.log.append(message)
        if account.connection is not None:
            self._send(account.connection, soupbintcp.sequenced(message))

    def _reject(self, account: _Account, user_ref_num: int, reason: str,
                cl_ord_id: str = "") -> None:
        self.counters[f"rejected_{reason}"] += 1
        self._emit(account, type="J", user_ref_num=user_ref_num, reason=int(REJECTS[reason]),
                   cl_ord_id=cl_ord_id)

    def _on_message(self, account: _Account, payload: bytes) -> None:
        if self._swallow:
            self._swallow -= 1
            self.counters["swallowed"] += 1
            return
        try:
            message = ouch.decode(Direction.INBOUND, payload)
        except OuchError as error:
            self.counters[f"bad_message_{error.fault}"] += 1
            if error.fault == "appendage":  # readable but unsupported: say so
                head = ouch.MESSAGES[Direction.INBOUND, chr(payload[0])].wire.unpack(payload)
                self._reject(account, int(head["user_ref_num"]), "unsupported_appendage",
                             str(head.get("cl_ord_id", "")))
            return
        kind = message["type"]
        if kind == "O":
            self._enter(account, message)
        elif kind == "U":
            self._replace(account, message)
        else:
            self._cancel(account, message)

    def _check_new(self, account: _Account, message: dict[str, Value]) -> str | None:
        user_ref_num = int(message["user_ref_num"])
        if user_ref_num <= account.last_user_ref_num:
            return "duplicate_user_ref_num"
        account.last_user_ref_num = user_ref_num
        quantity, price = int(message["quantity"]), int(message["price"])
        if not 0 < quantity <= ouch.MAX_QUANTITY:
            return "invalid_quantity"
        if price <= 0:
            return "invalid_price"
        if message["time_in_force"] not in (ouch.TIME_IN_FORCE_DAY, ouch.TIME_IN_FORCE_IOC):
            return "invalid_time_in_force"
        return None

    def _enter(self, account: _Account, message: dict[str, Value]) -> None:
        self.counters["orders"] += 1
        user_ref_num, cl_ord_id = int(message["user_ref_num"]), str(message["cl_ord_id"])
        side, symbol = str(message["side"]), str(message["symbol"])
        code = self._check_new(account, message)
        if code is None and side not in _SIDES:
            code = "invalid_side"
        if code is None and symbol not in self.symbols:
            code = "unknown_symbol"
        if code is not None:
            self._reject(account, user_ref_num, code, cl_ord_id)
            return
        ioc = message["time_in_force"] == ouch.TIME_IN_FORCE_IOC
        result = self.engine.add(symbol, _SIDES[side], int(message["price"]),
                                 int(message["quantity"]), account.username, user_ref_num, ioc)
        if result.resting is not None:
            account.orders[user_ref_num] = result.ref
            account.sides[user_ref_num] = side
        self._emit(account, type="A", user_ref_num=user_ref_num, side=side,
                   quantity=int(message["quantity"]), symbol=symbol, price=int(message["price"]),
                   time_in_force=str(message["time_in_force"]), display=str(message["display"]),
                   order_reference_number=result.ref, capacity=str(message["capacity"]),
                   intermarket_sweep_eligibility=str(message["intermarket_sweep_eligibility"]),
                   cross_type=str(message["cross_type"]),
                   order_state=ouch.ORDER_STATE_LIVE if result.resting else ouch.ORDER_STATE_DEAD,
                   cl_ord_id=cl_ord_id)
        self._executions(account, user_ref_num, result.fills)
        if result.canceled:
            self._emit(account, type="C", user_ref_num=user_ref_num, quantity=result.canceled,
                       reason=CancelReason.IOC.value)

    def _executions(self, taker: _Account, user_ref_num: int, fills: list[Fill]) -> None:
        for fill in fills:
            self.counters["executions"] += 1
            self._emit(taker, type="E", user_ref_num=user_ref_num, quantity=fill.quantity,
                       price=fill.price, liquidity_flag=ouch.LIQUIDITY_REMOVED,
                       match_number=fill.match_number)
            self._tell_maker(fill)

    def _tell_maker(self, fill: Fill) -> None:
        maker = self._accounts.get(fill.maker.owner) if fill.maker.owner else None
        if maker is None:
            return  # the feed's liquidity: nobody to tell
        self.counters["executions_passive"] += 1
        if not fill.maker_leaves:
            maker.orders.pop(fill.maker.tag, None)
            maker.sides.pop(fill.maker.tag, None)
        self._emit(maker, type="E", user_ref_num=fill.maker.tag, quantity=fill.quantity,
                   price=fill.price, liquidity_flag=ouch.LIQUIDITY_ADDED,
                   match_number=fill.match_number)

    def _replace(self, account: _Account, message: dict[str, Value]) -> None:
        self.counters["replaces"] += 1
        orig, user_ref_num = int(message["orig_user_ref_num"]), int(message["user_ref_num"])
        cl_ord_id = str(message["cl_ord_id"])
        code = self._check_new(account, message)
        ref = account.orders.get(orig)
        if code is None and ref is None:
            code = "unknown_order"
        if code is not None or ref is None:
            self._reject(account, user_ref_num, code or "unknown_order", cl_ord_id)
            return
        result = self.engine.replace(ref, int(message["price"]), int(message["quantity"]),
                                     user_ref_num)
        side = account.sides.pop(orig)
        del account.orders[orig]
        if result.order.leaves:
            account.orders[user_ref_num] = result.order.ref
            account.sides[user_ref_num] = side
        self._emit(account, type="U", orig_user_ref_num=orig, user_ref_num=user_ref_num,
                   side=side, quantity=int(message["quantity"]), symbol=result.order.symbol,
                   price=result.order.price, time_in_force=ouch.TIME_IN_FORCE_DAY,
                   display=str(message["display"]),
                   order_reference_number=result.order.ref, capacity="P",
                   intermarket_sweep_eligibility=str(message["intermarket_sweep_eligibility"]),
                   cross_type="N",
                   order_state=(ouch.ORDER_STATE_LIVE if result.order.leaves
                                else ouch.ORDER_STATE_DEAD),
                   cl_ord_id=cl_ord_id)
        self._executions(account, user_ref_num, result.fills)

    def _cancel(self, account: _Account, message: dict[str, Value]) -> None:
        self.counters["cancels"] += 1
        user_ref_num = int(message["user_ref_num"])
        ref = account.orders.get(user_ref_num)
        canceled = self.engine.cancel(ref, int(message["quantity"])) if ref is not None else 0
        if not canceled:
            self.counters["cancel_ignored"] += 1  # OUCH: unknown or already smaller: no reply
            return
        if ref not in self.engine.orders:
            del account.orders[user_ref_num]
            account.sides.pop(user_ref_num, None)
        self._emit(account, type="C", user_ref_num=user_ref_num, quantity=canceled,
                   reason=CancelReason.USER.value)
