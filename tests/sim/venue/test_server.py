"""The venue over real TCP on 127.0.0.1, driven by a bare SoupBinTCP client."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest

from nanogate.proto import ouch, soupbintcp
from nanogate.proto.ouch import Direction, RejectCode
from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.proto.soupbintcp import LoginRequest, Packet, PacketType
from nanogate.proto.wire import Value
from nanogate.sim.venue.seed import SeedOrder
from nanogate.sim.venue.server import VenueServer

SEED = [SeedOrder("ABC", False, 1_000_100, 500), SeedOrder("ABC", True, 999_900, 500)]


class Client:
    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=2)
        self.decoder = soupbintcp.Decoder()
        self.packets: list[Packet] = []

    def login(self, user: str = "U1", password: str = "pw", session: str = "",
              sequence: int = 1) -> Packet:
        self.sock.sendall(soupbintcp.login_request(LoginRequest(user, password, session,
                                                                sequence)))
        return self.next()

    def next(self) -> Packet:
        while not self.packets:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.packets += self.decoder.feed(data)
        return self.packets.pop(0)

    def replay(self) -> list[dict[str, Value]]:
        """Sequenced messages up to the heartbeat that ends a replay."""
        out = []
        while (packet := self.next()).type is not PacketType.SERVER_HEARTBEAT:
            assert packet.type is PacketType.SEQUENCED_DATA
            out.append(ouch.decode(Direction.OUTBOUND, packet.payload))
        return out

    def message(self) -> dict[str, Value]:
        packet = self.next()
        while packet.type is PacketType.SERVER_HEARTBEAT:
            packet = self.next()
        assert packet.type is PacketType.SEQUENCED_DATA, packet
        return ouch.decode(Direction.OUTBOUND, packet.payload)

    def enter(self, ref: int, side: str = "B", quantity: int = 100, price: int = 999_000,
              symbol: str = "ABC", tif: str = "0") -> None:
        self.send(ouch.encode_inbound(
            type="O", user_ref_num=ref, side=side, quantity=quantity, symbol=symbol,
            price=price, time_in_force=tif, display="Y", capacity="P",
            intermarket_sweep_eligibility="N", cross_type="N", cl_ord_id=f"C{ref}"))

    def send(self, message: bytes) -> None:
        self.sock.sendall(soupbintcp.unsequenced(message))

    def closed(self) -> bool:
        try:
            while True:
                self.next()
        except (ConnectionError, OSError):
            return True


@pytest.fixture
def venue() -> Iterator[VenueServer]:
    with VenueServer(SEED, users={"U1": "pw", "U2": "pw2"}, heartbeat_s=0.2,
                     idle_timeout_s=1.0) as server:
        yield server


def logged_in(venue: VenueServer, user: str = "U1", password: str = "pw") -> Client:
    client = Client(venue.address)
    assert client.login(user, password).type is PacketType.LOGIN_ACCEPTED
    assert [m["type"] for m in client.replay()] == ["S"]  # start of day
    return client


def test_login_rejected(venue: VenueServer) -> None:
    client = Client(venue.address)
    reply = client.login("U1", "wrong")
    assert reply.type is PacketType.LOGIN_REJECTED and reply.payload == b"A"
    assert client.closed()
    client = Client(venue.address)
    assert client.login("U1", "pw", session="OTHER").payload == b"S"
    assert venue.counters["login_rejected_not_authorized"] == 1
    assert venue.counters["login_rejected_session_unavailable"] == 1


def test_order_accepted_then_executed_against_the_seed(venue: VenueServer) -> None:
    client = logged_in(venue)
    client.enter(1, "B", 200, 1_000_100)
    accepted = client.message()
    assert accepted["type"] == "A" and accepted["order_state"] == "D"
    executed = client.message()
    assert (executed["type"], executed["quantity"], executed["price"],
            executed["liquidity_flag"]) == ("E", 200, 1_000_100, "R")


def test_ioc_remainder_is_cancelled(venue: VenueServer) -> None:
    client = logged_in(venue)
    client.enter(1, "S", 700, 999_900, tif="3")
    assert [client.message()["type"] for _ in range(2)] == ["A", "E"]
    canceled = client.message()
    assert (canceled["type"], canceled["quantity"], canceled["reason"]) == ("C", 200, "I")


@pytest.mark.parametrize(("kwargs", "code", "counter"), [
    ({"symbol": "NOPE"}, 0x17, "unknown_symbol"),  # OUCH 5.0 Invalid Symbol
    ({"quantity": 0}, 0x13, "invalid_quantity"),  # Invalid Quantity
    ({"price": 0}, 0x1D, "invalid_price"),  # Invalid Price
    ({"side": "Q"}, 0x09, "invalid_side"),  # Invalid Side
    ({"tif": "9"}, 0x0F, "invalid_time_in_force"),  # no spec code: Other
])
def test_bad_orders_get_ouch_rejects(venue: VenueServer, kwargs: dict[str, object],
                                     code: int, counter: str) -> None:
    client = logged_in(venue)
    client.enter(1, **kwargs)  # type: ignore[arg-type]
    rejected = client.message()
    assert (rejected["type"], rejected["reason"], rejected["user_ref_num"]) == ("J", code, 1)
    assert venue.counters[f"rejected_{counter}"] == 1


def test_duplicate_user_ref_num_and_appendage_rejected(venue: VenueServer) -> None:
    client = logged_in(venue)
    client.enter(5)
    assert client.message()["type"] == "A"
    client.enter(5)
    assert client.message()["reason"] == RejectCode.OTHER
    assert venue.counters["rejected_duplicate_user_ref_num"] == 1
    raw = bytearray(ouch.encode_inbound(
        type="O", user_ref_num=9, side="B", quantity=1, symbol="ABC", price=1,
        time_in_force="0", display="Y", capacity="P", intermarket_sweep_eligibility="N",
        cross_type="N", cl_ord_id=""))
    raw[45:47] = (2).to_bytes(2, "big")
    client.send(bytes(raw) + b"\x01\x00")
    assert client.message()["reason"] == RejectCode.OTHER
    assert venue.counters["rejected_unsupported_appendage"] == 1
    client.send(b"Q" + bytes(8))  # unreadable OUCH: counted, the session goes on
    client.enter(10)
    assert client.message()["type"] == "A"
    assert venue.counters["bad_message_unknown_type"] == 1


def test_replace_and_cancel(venue: VenueServer) -> None:
    client = logged_in(venue)
    client.enter(1, "B", 300, 999_000)
    assert client.message()["type"] == "A"
    client.send(ouch.encode_inbound(type="U", orig_user_ref_num=1, user_ref_num=2,
                                    quantity=100, price=999_500, time_in_force="0",
                                    display="Y", intermarket_sweep_eligibility="N",
                                    cl_ord_id=""))
    replaced = client.message()
    assert (replaced["type"], replaced["orig_user_ref_num"], replaced["user_ref_num"],
            replaced["quantity"], replaced["price"]) == ("U", 1, 2, 100, 999_500)
    client.send(ouch.encode_inbound(type="X", user_ref_num=1, quantity=0))  # replaced: ignored
    client.send(ouch.encode_inbound(type="X", user_ref_num=2, quantity=40))
    canceled = client.message()
    assert (canceled["type"], canceled["user_ref_num"], canceled["quantity"]) == ("C", 2, 60)
    client.send(ouch.encode_inbound(type="U", orig_user_ref_num=1, user_ref_num=3,
                                    quantity=100, price=999_500, time_in_force="0",
                                    display="Y", intermarket_sweep_eligibility="N",
                                    cl_ord_id=""))
    assert client.message()["reason"] == RejectCode.OTHER
    assert venue.counters["rejected_unknown_order"] == 1
    assert venue.counters["cancel_ignored"] == 1


def test_malformed_frames_drop_the_connection_counted(venue: VenueServer) -> None:
    client = logged_in(venue)
    client.sock.sendall(b"\x00\x01?")
    assert client.closed()
    stranger = Client(venue.address)
    stranger.sock.sendall(soupbintcp.unsequenced(b"X"))  # data before login
    assert stranger.closed()
    deadline = time.monotonic() + 2
    while venue.counters["not_logged_in"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert venue.counters["malformed_frame_unknown_type"] == 1
    assert venue.counters["not_logged_in"] == 1


def test_partial_frames_from_a_client(venue: VenueServer) -> None:
    client = Client(venue.address)
    raw = soupbintcp.login_request(LoginRequest("U2", "pw2", "", 1))
    for i in range(len(raw)):
        client.sock.sendall(raw[i:i + 1])
        time.sleep(0.001)
    assert client.next().type is PacketType.LOGIN_ACCEPTED


def test_replay_from_the_requested_sequence_after_a_reconnect(venue: VenueServer) -> None:
    maker = logged_in(venue)
    maker.enter(1, "S", 100, 1_000_050)  # rests inside the spread
    assert maker.message()["type"] == "A"
    assert venue.disconnect("U1")
    assert maker.closed()
    taker = logged_in(venue, "U2", "pw2")
    taker.enter(1, "B", 60, 1_000_100)  # hits the maker while it is away
    assert [taker.message()["type"] for _ in range(2)] == ["A", "E"]
    seen = 2  # start of day, accepted
    again = Client(venue.address)
    accepted = again.login("U1", "pw", sequence=seen + 1)
    assert soupbintcp.parse_login_accepted(accepted.payload).sequence_number == seen + 1
    (fill,) = again.replay()
    assert (fill["type"], fill["quantity"], fill["liquidity_flag"]) == ("E", 60, "A")
    full = Client(venue.address)  # takes the session over, from the first message
    full.login("U1", "pw", sequence=1)
    assert [m["type"] for m in full.replay()] == ["S", "A", "E"]
    assert again.closed() and venue.counters["takeovers"] == 1


def test_heartbeats_and_idle_timeout(venue: VenueServer) -> None:
    client = logged_in(venue)
    started = time.monotonic()
    assert client.next().type is PacketType.SERVER_HEARTBEAT
    assert time.monotonic() - started < 0.5
    assert client.closed()  # never sent a client heartbeat: dropped after idle_timeout_s
    assert venue.counters["heartbeat_timeout"] == 1


def test_close_sends_end_of_session() -> None:
    venue = VenueServer(SEED)
    client = logged_in(venue, "ANY", "x")  # no users file: any login
    venue.close()
    assert client.next().type is PacketType.END_OF_SESSION
    venue.close()  # idempotent


def test_close_survives_a_client_gone_during_the_goodbye(
        monkeypatch: pytest.MonkeyPatch) -> None:
    venue = VenueServer(SEED)
    logged_in(venue, "ANY", "x")
    # the End of Session send fails (the client has gone): _send drops the connection,
    # as it does on OSError, and clears the account's field under close()'s feet
    monkeypatch.setattr(venue, "_send", lambda conn, data: venue._drop(conn))
    venue.close()
    assert all(account.connection is None for account in venue._accounts.values())


def test_followed_flow_fills_our_quotes() -> None:
    flow = np.zeros(1, BOOK_EVENT_DTYPE)
    flow[0]["msg_type"], flow[0]["stock_locate"], flow[0]["order_ref"] = b"E", 1, 5
    flow[0]["shares"] = 40  # the feed's ask (ref 5) was executed: a buyer came
    seed = [SeedOrder("ABC", False, 1_000_100, 500, ref=5)]
    with VenueServer(seed, heartbeat_s=0.2) as venue:
        client = logged_in(venue)
        client.enter(1, "S", 100, 1_000_050)  # a better ask than the feed's
        assert client.message()["type"] == "A"
        follower = venue.follow(flow, {1: "ABC"}, rate=1000)
        fill = client.message()
        assert (fill["type"], fill["quantity"], fill["price"], fill["liquidity_flag"]) == (
            "E", 40, 1_000_050, "A")
        assert follower.remaining == 0 and venue.counters["executions_passive"] == 1


def test_many_sessions_at_once() -> None:
    with VenueServer(SEED, heartbeat_s=0.2) as venue:
        clients = [logged_in(venue, f"A{i}", "pw") for i in range(20)]
        for i, client in enumerate(clients):
            client.enter(1, "B", 10, 999_000 + i)
        assert all(client.message()["type"] == "A" for client in clients)
        assert venue.counters["logins"] == 20 and len(venue.engine.orders) == 22
        for client in clients:
            client.sock.close()
