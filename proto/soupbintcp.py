"""SoupBinTCP 4.0: the session layer of OUCH order entry.

A logical packet is a 2-byte big-endian length (of what follows: the type byte and
the payload), a type byte, and a payload. The client logs in with a user name,
password, session and the sequence number of the next sequenced message it wants;
the server then (re)sends its sequenced messages from there, which is how a client
recovers everything it missed across a reconnect. Messages the client sends
(Unsequenced Data) are not sequenced and may be lost with a connection: the
application protocol (OUCH) acknowledges what matters in sequenced messages.

Alpha fields are left-justified and space padded; numeric ASCII fields (the
sequence numbers) are right-justified and space padded.

Checked against a public OUCH 5.0 Wireshark dissector that frames SoupBinTCP
(see proto/ouch.py): the packet types below, the 2-byte big-endian length that
counts the type byte, Login Request username 6 / password 10 / requested session 10 /
requested sequence number 20 (46 bytes), Login Accepted session 10 / sequence
number 20, Login Rejected one reason byte (``A`` not authorized, ``S`` session not
available) all agree. Not verified against NASDAQ's own document: the padding side
of the Login Accepted session field, and the version number (that source calls the
same layout "SoupBinTCP 3.00"; this project has called it 4.0).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from nanogate.proto.wire import Kind, WireError, WireStruct, build_struct

A = Kind.ALPHA

#: Largest payload this implementation accepts in one packet; a longer length prefix
#: is a framing error, not a reason to buffer up to 64 KiB from a broken peer.
MAX_PAYLOAD = 1024
_LENGTH = struct.Struct(">H")


class PacketType(enum.StrEnum):
    DEBUG = "+"  # either direction: free text, ignored
    LOGIN_ACCEPTED = "A"
    LOGIN_REJECTED = "J"
    SEQUENCED_DATA = "S"
    SERVER_HEARTBEAT = "H"
    END_OF_SESSION = "Z"
    LOGIN_REQUEST = "L"
    UNSEQUENCED_DATA = "U"
    CLIENT_HEARTBEAT = "R"
    LOGOUT_REQUEST = "O"


class RejectReason(enum.StrEnum):
    NOT_AUTHORIZED = "A"  # bad user name or password
    SESSION_UNAVAILABLE = "S"  # the requested session is not (or no longer) available


LOGIN_REQUEST = build_struct("SoupBinTCP Login Request", (
    ("username", 6, A), ("password", 10, A), ("requested_session", 10, A),
    ("requested_sequence_number", 20, A),
))
LOGIN_ACCEPTED = build_struct("SoupBinTCP Login Accepted", (
    ("session", 10, A), ("sequence_number", 20, A),
))

#: Payload length of each fixed-size type; the others (S, U, +) are variable.
_FIXED_PAYLOAD: dict[str, int] = {
    PacketType.LOGIN_REQUEST: LOGIN_REQUEST.length,
    PacketType.LOGIN_ACCEPTED: LOGIN_ACCEPTED.length,
    PacketType.LOGIN_REJECTED: 1,
    PacketType.SERVER_HEARTBEAT: 0, PacketType.CLIENT_HEARTBEAT: 0,
    PacketType.END_OF_SESSION: 0, PacketType.LOGOUT_REQUEST: 0,
}
_TYPES = frozenset(t.value for t in PacketType)


class SoupError(ValueError):
    """A packet that cannot be framed; ``fault`` names why (``bad_length``, ``unknown_type``,
    ``bad_field``), the name a session counts the dropped connection under."""

    def __init__(self, fault: str, detail: str) -> None:
        super().__init__(detail)
        self.fault = fault


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    payload: bytes = b""


def encode(packet_type: PacketType, payload: bytes = b"") -> bytes:
    """One packet on the wire: length, type, payload."""
    fixed = _FIXED_PAYLOAD.get(packet_type)
    if fixed is not None and len(payload) != fixed:
        raise SoupError("bad_length", f"{packet_type.name} payload is {fixed} bytes, "
                                      f"got {len(payload)}")
    if len(payload) > MAX_PAYLOAD:
        raise SoupError("bad_length", f"payload of {len(payload)} bytes > {MAX_PAYLOAD}")
    return _LENGTH.pack(len(payload) + 1) + packet_type.value.encode() + payload


class Decoder:
    """Frames a byte stream that arrives in arbitrary chunks.

    :meth:`feed` returns every whole packet completed by the chunk and keeps the rest.
    A bad length or type raises :class:`SoupError`; the stream cannot be resynchronised
    after that (there is no marker to find the next packet), so the decoder stays failed
    and the session drops the connection.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload
        self._failed: SoupError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for a packet not yet complete."""
        return len(self._buffer)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Packet]:
        if self._failed is not None:
            raise self._failed
        self._buffer += chunk
        try:
            return list(self._frames())
        except SoupError as error:
            self._failed = error
            raise

    def _frames(self) -> Iterator[Packet]:
        buf = self._buffer
        start = 0
        try:
            while len(buf) - start >= 3:  # length and type: enough to check both
                (length,) = _LENGTH.unpack_from(buf, start)
                type_char = chr(buf[start + 2])
                if type_char not in _TYPES:
                    raise SoupError("unknown_type", f"unknown packet type 0x{buf[start + 2]:02x}")
                payload_length = length - 1
                fixed = _FIXED_PAYLOAD.get(type_char)
                if length == 0 or payload_length > self._max_payload or (
                        fixed is not None and payload_length != fixed):
                    raise SoupError("bad_length",
                                    f"packet type {type_char!r} with length {length}")
                end = start + 2 + length
                if end > len(buf):
                    break
                yield Packet(PacketType(type_char), bytes(buf[start + 3:end]))
                start = end
        finally:
            del buf[:start]


# --- login ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LoginRequest:
    username: str
    password: str
    requested_session: str = ""  # blank: the server's current session
    requested_sequence_number: int = 0  # 0: start with the next message generated


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    session: str
    sequence_number: int  # of the next sequenced message the server sends


def _numeric(owner: WireStruct, name: str, value: int) -> str:
    width = owner.field(name).width
    text = str(value)
    if value < 0 or len(text) > width:
        raise SoupError("bad_field", f"{owner.name}.{name}: {value} does not fit {width} digits")
    return text.rjust(width)


def _parse_numeric(owner: WireStruct, name: str, text: str) -> int:
    digits = text.strip()
    if not digits:
        return 0
    if not digits.isdigit() or not digits.isascii():
        raise SoupError("bad_field", f"{owner.name}.{name}: {text!r} is not a number")
    return int(digits)


def _pack(owner: WireStruct, values: dict[str, str]) -> bytes:
    try:
        return owner.pack(values)
    except WireError as error:
        raise SoupError("bad_field", str(error)) from None


def login_request(request: LoginRequest) -> bytes:
    payload = _pack(LOGIN_REQUEST, {
        "username": request.username, "password": request.password,
        "requested_session": request.requested_session,
        "requested_sequence_number": _numeric(
            LOGIN_REQUEST, "requested_sequence_number", request.requested_sequence_number),
    })
    return encode(PacketType.LOGIN_REQUEST, payload)


def parse_login_request(payload: bytes) -> LoginRequest:
    values = LOGIN_REQUEST.unpack(payload)
    return LoginRequest(str(values["username"]).strip(), str(values["password"]).strip(),
                        str(values["requested_session"]).strip(),
                        _parse_numeric(LOGIN_REQUEST, "requested_sequence_number",
                                       str(values["requested_sequence_number"])))


def login_accepted(accepted: LoginAccepted) -> bytes:
    payload = _pack(LOGIN_ACCEPTED, {
        "session": accepted.session,
        "sequence_number": _numeric(LOGIN_ACCEPTED, "sequence_number", accepted.sequence_number),
    })
    return encode(PacketType.LOGIN_ACCEPTED, payload)


def parse_login_accepted(payload: bytes) -> LoginAccepted:
    values = LOGIN_ACCEPTED.unpack(payload)
    return LoginAccepted(str(values["session"]).strip(),
                         _parse_numeric(LOGIN_ACCEPTED, "sequence_number",
                                        str(values["sequence_number"])))


def login_rejected(reason: RejectReason) -> bytes:
    return encode(PacketType.LOGIN_REJECTED, reason.value.encode())


def parse_login_rejected(payload: bytes) -> RejectReason:
    try:
        return RejectReason(payload.decode("latin-1"))
    except ValueError:
        raise SoupError("bad_field", f"unknown login reject reason {payload!r}") from None


def sequenced(message: bytes) -> bytes:
    return encode(PacketType.SEQUENCED_DATA, message)


def unsequenced(message: bytes) -> bytes:
    return encode(PacketType.UNSEQUENCED_DATA, message)


SERVER_HEARTBEAT = encode(PacketType.SERVER_HEARTBEAT)
CLIENT_HEARTBEAT = encode(PacketType.CLIENT_HEARTBEAT)
END_OF_SESSION = encode(PacketType.END_OF_SESSION)
LOGOUT_REQUEST = encode(PacketType.LOGOUT_REQUEST)
