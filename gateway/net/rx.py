"""Burst receive: ``recvmmsg`` (through ctypes) straight into the ring's pool slots.

The message headers, iovecs and control buffers are built once, one per
pool slot, pointing at that slot: a receive call is then one ``recvmmsg``
on the headers of the next free slots, with no per-packet setup. Lengths,
MSG_TRUNC flags and SO_TIMESTAMPNS times are read back through NumPy views
of the same header arrays, a burst at a time. Without ``recvmmsg`` (or when
asked) the receiver falls back to ``recvmsg_into``, one datagram per call.

:func:`receive_main` is the receive process: it opens and joins the line
sockets, raises READY, and loops until the STOP word is set.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.ring import FLAG_TRUNCATED, Ring, Word
from nanogate.gateway.net.sockets import DEFAULT_RCVBUF, open_receiver

MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
_CONTROL_LEN = 32  # CMSG_SPACE(sizeof(struct timespec)) on x86-64
_LINE_WORDS = (Word.PACKETS_A, Word.PACKETS_B)


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_IoVec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


# The fields a burst reads back, as a NumPy view of the _MMsgHdr array (x86-64 offsets).
_MMSG_VIEW = np.dtype({"names": ["controllen", "flags", "len"],
                       "formats": ["<u8", "<i4", "<u4"],
                       "offsets": [_MsgHdr.controllen.offset, _MsgHdr.flags.offset,
                                   _MMsgHdr.len.offset],
                       "itemsize": ctypes.sizeof(_MMsgHdr)})


# The same fields as 32-bit words of the header array, and the descriptor fields as words
# of the ring's descriptor array, for the compiled pass that lands a burst (_land).
_HDR_WORDS = ctypes.sizeof(_MMsgHdr) // 4
_W_CONTROLLEN = _MsgHdr.controllen.offset // 4  # u64, little-endian: the low word holds it
_W_FLAGS = _MsgHdr.flags.offset // 4
_W_LEN = _MMsgHdr.len.offset // 4
assert ctypes.sizeof(_MMsgHdr) % 8 == 0 and _MsgHdr.controllen.offset % 8 == 0


@numba.njit(cache=True, nogil=True)
def _land(words: np.ndarray, stamps: np.ndarray, lengths: np.ndarray, lines: np.ndarray,
          flags: np.ndarray, rx_ns: np.ndarray, start: int, got: int, line: int,
          now_ns: int) -> int:  # pragma: no cover - compiled
    """Descriptors for slots start..start+got from their headers; returns how many truncated."""
    truncated = 0
    for i in range(start, start + got):
        base = i * _HDR_WORDS
        lengths[i] = words[base + _W_LEN]
        lines[i] = line
        if words[base + _W_FLAGS] & MSG_TRUNC:
            flags[i] = FLAG_TRUNCATED
            truncated += 1
        else:
            flags[i] = 0
        if words[base + _W_CONTROLLEN] >= _CONTROL_LEN:
            rx_ns[i] = stamps[i, 2] * 1_000_000_000 + stamps[i, 3]
        else:
            rx_ns[i] = now_ns  # no timestamp came back: the time we saw it
        words[base + _W_CONTROLLEN] = _CONTROL_LEN  # the kernel wrote back what it used
        words[base + _W_CONTROLLEN + 1] = 0
    return truncated


def _libc_recvmmsg() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                         ctypes.c_void_p]
    function.restype = ctypes.c_int
    recvmmsg: Callable[..., int] = function
    return recvmmsg


_RECVMMSG = _libc_recvmmsg()


class _Headers:
    """One mmsghdr, iovec and control buffer per buffer, over ``count`` buffers at ``base``."""

    def __init__(self, base: int, count: int, size: int) -> None:
        self.iov = (_IoVec * count)()
        self.msgs = (_MMsgHdr * count)()
        self.control = ctypes.create_string_buffer(count * _CONTROL_LEN)
        control_base = ctypes.addressof(self.control)
        for i in range(count):
            self.iov[i].base, self.iov[i].len = base + i * size, size
            hdr = self.msgs[i].hdr
            hdr.iov = ctypes.pointer(self.iov[i])
            hdr.iovlen = 1
            hdr.control = control_base + i * _CONTROL_LEN
        self.address = ctypes.addressof(self.msgs)
        self.stride = ctypes.sizeof(_MMsgHdr)
        self.view = np.frombuffer(memoryview(self.msgs).cast("B"), _MMSG_VIEW)
        self.words = np.frombuffer(memoryview(self.msgs).cast("B"), np.uint32)
        self.view["controllen"] = _CONTROL_LEN
        self.stamps = np.frombuffer(memoryview(self.control).cast("B"), np.int64).reshape(
            count, 4)


class BurstReceiver:
    """Receives from line sockets into ``ring``, ``burst`` datagrams a call at most."""

    def __init__(self, ring: Ring, sockets: list[tuple[int, socket.socket]], *,
                 burst: int = 64, use_recvmmsg: bool = True) -> None:
        if not 1 <= burst <= 1024:
            raise ValueError(f"burst must be 1..1024, got {burst}")
        self.ring = ring
        self.sockets = sockets
        self.burst = burst
        self.use_recvmmsg = use_recvmmsg and _RECVMMSG is not None
        self._pool_views = [memoryview(ring.pool[i]) for i in range(ring.slots)]
        descriptors = ring.descriptors
        self._lengths, self._lines = descriptors["length"], descriptors["line"]
        self._flags, self._rx_ns = descriptors["flags"], descriptors["rx_ns"]
        if self.use_recvmmsg:
            self._slots = _Headers(ring.pool.ctypes.data, ring.slots, ring.slot_size)
            self._scratch_buffer = ctypes.create_string_buffer(burst * ring.slot_size)
            self._scratch = _Headers(ctypes.addressof(self._scratch_buffer), burst,
                                     ring.slot_size)
            # load the compiled pass now, not on the first datagram (got=0: touches nothing)
            _land(self._slots.words, self._slots.stamps, self._lengths, self._lines,
                  self._flags, self._rx_ns, 0, 0, 0, 0)

    def close(self) -> None:
        """Drop every view of the pool (so the ring can be unmapped)."""
        self._pool_views = []
        del self._lengths, self._lines, self._flags, self._rx_ns
        if self.use_recvmmsg:
            del self._slots

    def poll(self) -> int:
        """One receive call per socket; returns the datagrams received (dropped included)."""
        total = 0
        for line, sock in self.sockets:
            total += self.receive(line, sock)
        return total

    def receive(self, line: int, sock: socket.socket) -> int:
        """One receive call on one of the sockets; returns the datagrams received."""
        return (self._recvmmsg(line, sock) if self.use_recvmmsg
                else self._recv_into(line, sock))

    def _recvmmsg(self, line: int, sock: socket.socket) -> int:
        ring = self.ring
        start, room = ring.reserve(self.burst)
        headers = self._slots if room else self._scratch
        count = room if room else self.burst
        assert _RECVMMSG is not None
        got: int = _RECVMMSG(sock.fileno(), headers.address + start * headers.stride * bool(room),
                        count, MSG_DONTWAIT, None)
        if got <= 0:
            code = ctypes.get_errno()
            if got < 0 and code not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                ring.control[Word.ERRORS] += np.uint64(1)
            return 0
        if not room:
            ring.count_drop(got)  # the ring is full: read and counted, never blocked on
            headers.view["controllen"][:got] = _CONTROL_LEN
            return got
        truncated = _land(headers.words, headers.stamps, self._lengths, self._lines,
                          self._flags, self._rx_ns, start, got, line, time.time_ns())
        ring.publish(got)
        control = ring.control
        control[_LINE_WORDS[line]] += np.uint64(got)
        control[Word.BURSTS] += np.uint64(1)
        if truncated:
            control[Word.TRUNCATED] += np.uint64(truncated)
        return got

    def _recv_into(self, line: int, sock: socket.socket) -> int:
        ring = self.ring
        got = 0
        for _ in range(self.burst):
            start, room = ring.reserve(1)
            target = self._pool_views[start] if room else memoryview(bytearray(ring.slot_size))
            try:
                size, ancillary, flags, _ = sock.recvmsg_into([target], _CONTROL_LEN)
            except (BlockingIOError, InterruptedError):
                break
            got += 1
            if not room:
                ring.count_drop()
                continue
            rx_ns = time.time_ns()
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and len(data) >= 16:
                    sec, nsec = np.frombuffer(data[:16], np.int64).tolist()
                    rx_ns = sec * 1_000_000_000 + nsec
                    del kind
            descriptor = ring.descriptors[start]
            descriptor["length"], descriptor["line"], descriptor["rx_ns"] = size, line, rx_ns
            descriptor["flags"] = FLAG_TRUNCATED if flags & MSG_TRUNC else 0
            ring.publish(1)
            ring.control[_LINE_WORDS[line]] += np.uint64(1)
            if flags & MSG_TRUNC:
                ring.control[Word.TRUNCATED] += np.uint64(1)
        return got


@dataclass(frozen=True)
class ReceiveSpec:
    """What the receive process needs, picklable: the ring and the lines."""

    ring_name: str
    slots: int
    slot_size: int
    lines: tuple[Endpoint, ...]
    interface: str = "127.0.0.1"
    rcvbuf: int = DEFAULT_RCVBUF
    burst: int = 64
    use_recvmmsg: bool = True
    busy_poll: bool = False  # spin instead of sleeping in poll(2)
    busy_poll_us: int = 0  # SO_BUSY_POLL
    doorbell: str | None = None  # abstract AF_UNIX address of the sleeping worker


def receive_main(spec: ReceiveSpec) -> None:
    """The receive process: runs until the ring's STOP word is set."""
    ring = Ring.attach(spec.ring_name, spec.slots, spec.slot_size)
    sockets = [(line, open_receiver(group, spec.interface, rcvbuf=spec.rcvbuf,
                                    busy_poll_us=spec.busy_poll_us))
               for line, group in enumerate(spec.lines)]
    receiver = BurstReceiver(ring, sockets, burst=spec.burst, use_recvmmsg=spec.use_recvmmsg)
    poller = select.poll()
    for _, sock in sockets:
        poller.register(sock, select.POLLIN)
    bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bell.setblocking(False)
    control = ring.control
    control[Word.PID] = np.uint64(os.getpid())
    control[Word.READY] = np.uint64(1)
    try:
        while not control[Word.STOP]:
            if receiver.poll():
                if control[Word.SLEEPING] and spec.doorbell is not None:
                    control[Word.SLEEPING] = 0
                    with contextlib.suppress(OSError):  # a full doorbell is rung already
                        bell.sendto(b"\0", spec.doorbell)
            elif not spec.busy_poll:
                poller.poll(1)  # idle: sleep until a datagram (1 ms to see STOP)
    finally:
        del control  # a live view would keep the segment mapped
        bell.close()
        receiver.close()
        for _, sock in sockets:
            sock.close()
        del poller
        ring.close()
