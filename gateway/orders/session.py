"""A SoupBinTCP client session carrying OUCH: login, heartbeats, reconnect, replay.

One thread per session reads the socket, answers with Client Heartbeats when it has
sent nothing for ``heartbeat_s``, and declares the connection dead when the server
has been silent for ``timeout_s``. After a loss it reconnects and logs in with the
sequence number of the next message it has not seen, so the server replays exactly
what was missed; a sequenced message below that number is a duplicate and is
skipped (counted). The first Server Heartbeat after a login means the replay is
over (a server sends its backlog before anything else): only then is the session
``LIVE`` again, and only a live session sends.

Callbacks run on the session's thread, in sequence order.
"""

from __future__ import annotations

import contextlib
import enum
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from nanogate.proto import soupbintcp
from nanogate.proto.soupbintcp import LoginRequest, Packet, PacketType, RejectReason, SoupError

_TICK_S = 0.02


class SessionState(enum.StrEnum):
    CONNECTING = "connecting"
    RECOVERING = "recovering"  # logged in, the replay of missed messages is arriving
    LIVE = "live"  # caught up: orders may be sent
    DISCONNECTED = "disconnected"  # lost; reconnecting
    ENDED = "ended"  # the server sent End of Session
    CLOSED = "closed"  # closed by us, or the login was refused


class LoginRejected(ConnectionError):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(f"login rejected: {reason.name.lower()}")
        self.reason = reason


MessageHandler = Callable[[int, bytes], None]
StateHandler = Callable[[SessionState], None]


class OuchSession:
    """The client end of one account's session with the venue."""

    def __init__(self, address: tuple[str, int], username: str, password: str, *,
                 on_message: MessageHandler, on_state: StateHandler | None = None,
                 session: str = "", heartbeat_s: float = 1.0, timeout_s: float = 3.0,
                 reconnect_s: float = 0.1, first_sequence: int = 1) -> None:
        self.address = address
        self.username = username
        self._password = password
        self._session = session
        self._on_message = on_message
        self._on_state = on_state or (lambda state: None)
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        self.next_sequence = first_sequence  # the next sequenced message not yet delivered
        self.epoch = 0  # logins so far: tells what was sent before the last reconnect
        self.counters: Counter[str] = Counter()
        self.state = SessionState.CONNECTING
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._closing = threading.Event()
        self._first_login = threading.Event()
        self._login_error: Exception | None = None
        self._decoder = soupbintcp.Decoder()
        self._pending: list[Packet] = []  # packets that arrived with the Login Accepted
        self._last_send = self._last_recv = 0.0
        self._thread = threading.Thread(target=self._run, name=f"ouch-{username}", daemon=True)

    # --- public --------------------------------------------------------------------------

    def start(self, wait_s: float = 5.0) -> None:
        """Connect, log in and wait until live; raises LoginRejected or ConnectionError."""
        self._thread.start()
        if not self._first_login.wait(wait_s):
            self.close()
            raise ConnectionError(f"no login to {self.address} within {wait_s} s")
        if self._login_error is not None:
            self.close()
            raise self._login_error

    def wait_live(self, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while self.state is not SessionState.LIVE and time.monotonic() < deadline:
            time.sleep(_TICK_S / 2)
        return self.state is SessionState.LIVE

    def send(self, message: bytes) -> int:
        """Send one OUCH message; returns the epoch (login count) it went out in, or 0 when
        the session is not live (nothing was sent)."""
        frame = soupbintcp.unsequenced(message)
        with self._send_lock:
            sock = self._sock
            if sock is None or self.state is not SessionState.LIVE:
                return 0
            try:
                sock.sendall(frame)
            except OSError:
                # part of the frame may be out: end the connection so that nothing can
                # follow it, and let the reader reconnect
                self.counters["send_failed"] += 1
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return 0
            self._last_send = time.monotonic()
            return self.epoch

    def close(self) -> None:
        """Log out and stop (idempotent)."""
        if self._closing.is_set():
            return
        self._closing.set()
        with self._send_lock:
            if self._sock is not None and self.state is SessionState.LIVE:
                with contextlib.suppress(OSError):
                    self._sock.sendall(soupbintcp.LOGOUT_REQUEST)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
        self._close_socket()
        self._set_state(SessionState.CLOSED)

    def drop(self) -> None:
        """Break the connection as a network failure would (tests): the session reconnects."""
        with self._send_lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    # --- the session thread ------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self._on_state(state)

    def _close_socket(self) -> None:
        with self._send_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _run(self) -> None:
        logged_in_once = False
        while not self._closing.is_set():
            try:
                cursor = self._login()
            except LoginRejected as error:
                self._login_error = error
                self._first_login.set()
                self._set_state(SessionState.CLOSED)
                return
            except (OSError, SoupError) as error:
                if not logged_in_once:
                    self._login_error = ConnectionError(f"cannot log in to {self.address}: "
                                                        f"{error}")
                    self._first_login.set()
                    return
                self.counters["reconnect_failed"] += 1
                self._closing.wait(self.reconnect_s)
                continue
            if logged_in_once:
                self.counters["reconnects"] += 1
            logged_in_once = True
            self._first_login.set()
            ended = self._read(cursor)
            self._close_socket()
            if ended:
                self._set_state(SessionState.ENDED)
                return
            if not self._closing.is_set():
                self.counters["disconnects"] += 1
                self._set_state(SessionState.DISCONNECTED)
                self._closing.wait(self.reconnect_s)

    def _login(self) -> int:
        """Connect and log in; returns the sequence number of the first message to come."""
        sock = socket.create_connection(self.address, timeout=self.timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(soupbintcp.login_request(LoginRequest(
                self.username, self._password, self._session, self.next_sequence)))
            decoder = soupbintcp.Decoder()
            packets: list[Packet] = []
            while not packets:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed during login")
                packets = decoder.feed(data)
            first = packets[0]
            if first.type is PacketType.LOGIN_REJECTED:
                raise LoginRejected(soupbintcp.parse_login_rejected(first.payload))
            if first.type is not PacketType.LOGIN_ACCEPTED:
                raise SoupError("unexpected_packet", f"{first.type.name} before login accepted")
            accepted = soupbintcp.parse_login_accepted(first.payload)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.timeout_s)  # bounds sends; reads wait in select()
        self._decoder = decoder
        now = time.monotonic()
        self._last_send = self._last_recv = now
        with self._send_lock:
            self._sock = sock
            self.epoch += 1
        self._set_state(SessionState.RECOVERING)
        self._pending = packets[1:]
        return accepted.sequence_number

    def _read(self, cursor: int) -> bool:
        """Read until the connection is lost (False) or the session ends (True)."""
        sock = self._sock
        assert sock is not None
        packets = self._pending
        while not self._closing.is_set():
            for packet in packets:
                if packet.type is PacketType.SEQUENCED_DATA:
                    if cursor >= self.next_sequence:
                        self.next_sequence = cursor + 1
                        self._on_message(cursor, packet.payload)
                    else:
                        self.counters["duplicates_skipped"] += 1
                    cursor += 1
                elif packet.type is PacketType.SERVER_HEARTBEAT:
                    self._set_state(SessionState.LIVE)
                elif packet.type is PacketType.END_OF_SESSION:
                    return True
                elif packet.type is not PacketType.DEBUG:
                    self.counters["unexpected_packet"] += 1
            packets = []
            now = time.monotonic()
            if now - self._last_recv > self.timeout_s:
                self.counters["heartbeat_timeout"] += 1
                return False
            if now - self._last_send >= self.heartbeat_s:
                with self._send_lock:
                    try:
                        sock.sendall(soupbintcp.CLIENT_HEARTBEAT)
                    except OSError:
                        return False
                    self._last_send = now
            try:
                ready, _, _ = select.select([sock], [], [], _TICK_S)
                if not ready:
                    continue
                data = sock.recv(65536)
            except (OSError, ValueError):  # ValueError: closed by another thread
                return False
            if not data:
                return False
            self._last_recv = time.monotonic()
            try:
                packets = self._decoder.feed(data)
            except SoupError as error:
                self.counters[f"malformed_frame_{error.fault}"] += 1
                return False
        return False
