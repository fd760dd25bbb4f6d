"""The sockets of the data path: multicast receive per line, multicast send, unicast request.

Receive sockets join their group on the interface named by address, ask for
large buffers and kernel receive timestamps (SO_TIMESTAMPNS), and may ask the
kernel to busy-poll. Every option the kernel refuses (a buffer above
``rmem_max`` without privilege, busy polling without CAP_NET_ADMIN) is noted
in :class:`SocketReport` rather than failing: the path still works, slower.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from nanogate.gateway.net.addr import Endpoint

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_BUSY_POLL = getattr(socket, "SO_BUSY_POLL", 46)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
DEFAULT_RCVBUF = 32 * 1024 * 1024


@dataclass
class SocketReport:
    rcvbuf: int = 0  # what the kernel granted (it reports double the request)
    notes: list[str] = field(default_factory=list)


def open_receiver(group: Endpoint, interface: str = "127.0.0.1", *,
                  rcvbuf: int = DEFAULT_RCVBUF, busy_poll_us: int = 0,
                  report: SocketReport | None = None) -> socket.socket:
    """A non-blocking UDP socket for a line: bound to ``group``, joined on ``interface``."""
    report = report if report is not None else SocketReport()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _set_rcvbuf(sock, rcvbuf, report)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if busy_poll_us:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL, busy_poll_us)
            except OSError as error:
                report.notes.append(f"SO_BUSY_POLL refused ({error.strerror}); spinning only")
        sock.bind((group.host, group.port))
        if group.is_multicast:
            membership = socket.inet_aton(group.host) + socket.inet_aton(interface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _set_rcvbuf(sock: socket.socket, size: int, report: SocketReport) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)  # root: past rmem_max
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    report.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if report.rcvbuf < size:
        report.notes.append(f"receive buffer {report.rcvbuf} bytes, asked {size} "
                            "(raise net.core.rmem_max)")


def open_sender(interface: str = "127.0.0.1", *, ttl: int = 1,
                sndbuf: int = 4 * 1024 * 1024) -> socket.socket:
    """A UDP socket that sends multicast out of ``interface`` and loops it back locally."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.bind((interface, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def open_unicast(bind: Endpoint) -> socket.socket:
    """A non-blocking unicast UDP socket (rewinder server, or the gateway's request socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        _set_rcvbuf(sock, DEFAULT_RCVBUF, SocketReport())
        sock.bind((bind.host, bind.port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
