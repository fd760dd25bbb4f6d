"""The SoupBinTCP client: login, replay de-duplication, heartbeats, reconnect."""

from __future__ import annotations

import socket
import threading

import pytest

from nanogate.gateway.orders.session import LoginRejected, OuchSession, SessionState
from nanogate.proto import soupbintcp
from nanogate.proto.soupbintcp import LoginAccepted, RejectReason
from nanogate.sim.venue.server import VenueServer

from .helpers import wait_for


class ReplayingServer:
    """Answers every login with Accepted at sequence 1 and the whole log, whatever the
    client asked: a server that replays too much (the client must skip duplicates)."""

    def __init__(self, log: list[bytes]) -> None:
        self.log = log
        self.requested: list[int] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(2)
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(2):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            (login,) = soupbintcp.Decoder().feed(conn.recv(1024))
            self.requested.append(
                soupbintcp.parse_login_request(login.payload).requested_sequence_number)
            conn.sendall(soupbintcp.login_accepted(LoginAccepted("FAKE", 1))
                         + b"".join(soupbintcp.sequenced(m) for m in self.log)
                         + soupbintcp.SERVER_HEARTBEAT)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


def test_replayed_duplicates_are_skipped_and_the_next_sequence_is_requested() -> None:
    server = ReplayingServer([b"m1", b"m2"])
    got: list[tuple[int, bytes]] = []
    session = OuchSession(server.listener.getsockname()[:2], "U1", "pw",
                          on_message=lambda seq, msg: got.append((seq, msg)),
                          timeout_s=1.0, reconnect_s=0.01)
    session.start(wait_s=2)
    wait_for(lambda: len(got) == 2)
    server.log.append(b"m3")
    server.connections[0].close()  # the server side breaks: the client reconnects
    wait_for(lambda: len(got) == 3)
    assert got == [(1, b"m1"), (2, b"m2"), (3, b"m3")]
    assert server.requested == [1, 3]
    assert session.counters["duplicates_skipped"] == 2 and session.counters["reconnects"] == 1
    session.close()
    server.close()


def test_login_rejected_raises() -> None:
    with VenueServer(users={"U1": "pw"}) as venue:
        session = OuchSession(venue.address, "U1", "bad", on_message=lambda s, m: None)
        with pytest.raises(LoginRejected) as error:
            session.start(wait_s=2)
        assert error.value.reason is RejectReason.NOT_AUTHORIZED
        assert session.state is SessionState.CLOSED


def test_no_venue_is_a_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = unused.getsockname()[:2]
    session = OuchSession(address, "U1", "pw", on_message=lambda s, m: None)
    with pytest.raises(ConnectionError, match="cannot log in"):
        session.start(wait_s=2)


def test_heartbeats_keep_an_idle_session_up_and_end_of_session_ends_it() -> None:
    states: list[SessionState] = []
    venue = VenueServer(heartbeat_s=0.05, idle_timeout_s=0.3)
    session = OuchSession(venue.address, "U1", "pw", on_message=lambda s, m: None,
                          on_state=states.append, heartbeat_s=0.05, timeout_s=0.3)
    session.start(wait_s=2)
    wait_for(lambda: session.state is SessionState.LIVE)
    threading.Event().wait(0.6)  # twice the idle timeout of either side
    assert session.state is SessionState.LIVE and venue.counters["heartbeat_timeout"] == 0
    assert session.send(b"X" + bytes(8))
    venue.close()
    wait_for(lambda: session.state is SessionState.ENDED)
    assert not session.send(b"X" + bytes(8))
    assert states[-1] is SessionState.ENDED and SessionState.DISCONNECTED not in states
    session.close()


def test_a_silent_server_is_detected() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        conn.recv(1024)
        conn.sendall(soupbintcp.login_accepted(LoginAccepted("FAKE", 1)))  # then silence

    threading.Thread(target=serve, daemon=True).start()
    session = OuchSession(listener.getsockname()[:2], "U1", "pw",
                          on_message=lambda s, m: None, timeout_s=0.2, reconnect_s=5)
    session.start(wait_s=2)
    wait_for(lambda: session.counters["heartbeat_timeout"] == 1)
    wait_for(lambda: session.state is SessionState.DISCONNECTED)
    session.close()
    listener.close()
    for conn in accepted:
        conn.close()
