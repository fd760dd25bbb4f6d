"""The buffer pool and the SPSC descriptor ring, in one shared-memory segment.

Layout: a control block of u64 words (the producer's head and the
consumer's tail on cache lines of their own, then counters and flags), a
descriptor per slot (length, line, flags, kernel receive time), and the pool:
``slots`` fixed-size buffers. Descriptor ``i`` describes slot ``i``, and
slots are used in ring order, so the ring carries no slot numbers and
freeing a slot is the consumer moving its tail, as on a NIC's receive ring.

Single producer (the receive process) and single consumer (the worker); no
locks. The producer writes payloads (the kernel does, with ``recvmmsg``
straight into the slots) and descriptors, then stores ``head``; the
consumer reads ``head``, then the slots. Each index is one aligned 8-byte
store, and x86-64 keeps stores in order and loads in order (TSO), which is
all this needs; a weakly ordered CPU would need fences here. The producer
never waits: with the ring full it counts a drop (:meth:`Ring.count_drop`).
"""

from __future__ import annotations

import contextlib
import enum
from multiprocessing import shared_memory

import numpy as np

DESCRIPTOR = np.dtype([("length", "<u4"), ("line", "<u2"), ("flags", "<u2"),
                       ("rx_ns", "<i8")])
FLAG_TRUNCATED = 1  # the datagram was longer than a slot (MSG_TRUNC)
_CONTROL_WORDS = 64  # 512 bytes


class Word(enum.IntEnum):
    """Control block words, by index (head and tail a cache line apart)."""

    HEAD = 0
    TAIL = 8
    DROPS = 16  # datagrams read while the ring was full
    TRUNCATED = 17
    BURSTS = 18  # receive calls that returned data
    PACKETS_A = 19
    PACKETS_B = 20
    ERRORS = 21
    STOP = 32  # set by the consumer side: the receive process exits
    READY = 33  # set by the receive process: sockets joined
    PID = 34
    SLEEPING = 35  # set by the consumer before it blocks: the producer rings the doorbell


# HEAD and TAIL as plain ints: indexing with the enum member costs ~0.3 us a time.
_HEAD, _TAIL = int(Word.HEAD), int(Word.TAIL)


class RingError(ValueError):
    """A ring that cannot be made with the sizes asked for."""


class Ring:
    """Create with :meth:`create`, open in another process with :meth:`attach`."""

    def __init__(self, shm: shared_memory.SharedMemory, slots: int, slot_size: int,
                 owner: bool) -> None:
        self._shm = shm
        self.owner = owner
        self.slots = slots
        self.slot_size = slot_size
        self.mask = slots - 1
        buf = shm.buf
        assert buf is not None
        self.control = np.frombuffer(buf, np.uint64, _CONTROL_WORDS, 0)
        offset = _CONTROL_WORDS * 8
        self.descriptors = np.frombuffer(buf, DESCRIPTOR, slots, offset)
        offset += slots * DESCRIPTOR.itemsize
        self.pool = np.frombuffer(buf, np.uint8, slots * slot_size, offset).reshape(
            slots, slot_size)
        self.pool_flat = self.pool.reshape(-1)
        # the descriptor columns, indexed by slot (views made once: each costs ~0.3 us)
        descriptors = self.descriptors
        self.lengths, self.lines = descriptors["length"], descriptors["line"]
        self.flags, self.rx_ns = descriptors["flags"], descriptors["rx_ns"]

    @staticmethod
    def size_for(slots: int, slot_size: int) -> int:
        return _CONTROL_WORDS * 8 + slots * (DESCRIPTOR.itemsize + slot_size)

    @classmethod
    def create(cls, slots: int = 8192, slot_size: int = 2048) -> Ring:
        if slots < 2 or slots & (slots - 1):
            raise RingError(f"slots must be a power of two >= 2, got {slots}")
        if not 64 <= slot_size <= 65536 or slot_size % 64:
            raise RingError(f"slot_size must be a multiple of 64 in 64..65536, got {slot_size}")
        shm = shared_memory.SharedMemory(create=True, size=cls.size_for(slots, slot_size))
        ring = cls(shm, slots, slot_size, owner=True)
        ring.control[:] = 0
        return ring

    @classmethod
    def attach(cls, name: str, slots: int, slot_size: int) -> Ring:
        shm = shared_memory.SharedMemory(name=name, create=False)
        return cls(shm, slots, slot_size, owner=False)

    @property
    def name(self) -> str:
        return self._shm.name

    def close(self) -> None:
        """Unmap (and, for the creator, remove) the segment; views must be gone by now."""
        del self.control, self.descriptors, self.pool, self.pool_flat
        del self.lengths, self.lines, self.flags, self.rx_ns
        # a caller still holding a view keeps the mapping until that view goes
        with contextlib.suppress(BufferError):
            self._shm.close()
        if self.owner:
            self._shm.unlink()

    # -- both sides ----------------------------------------------------------------------

    def counter(self, word: Word) -> int:
        return int(self.control[word])

    def used(self) -> int:
        control = self.control
        return int(control[_HEAD]) - int(control[_TAIL])

    # -- producer ------------------------------------------------------------------------

    def reserve(self, burst: int) -> tuple[int, int]:
        """(first slot, how many) free and contiguous, at most ``burst``; (x, 0) when full."""
        control = self.control
        head = int(control[_HEAD])
        free = self.slots - (head - int(control[_TAIL]))
        start = head & self.mask
        return start, min(burst, free, self.slots - start)

    def publish(self, count: int) -> None:
        """Hand ``count`` filled slots (from the reserved start) to the consumer."""
        self.control[_HEAD] += np.uint64(count)

    def count_drop(self, count: int = 1) -> None:
        self.control[Word.DROPS] += np.uint64(count)

    def enqueue(self, payloads: list[bytes], line: int, rx_ns: int) -> int:
        """Copy payloads into slots (the path without ``recvmmsg``); returns how many fit."""
        done = 0
        while done < len(payloads):
            start, room = self.reserve(len(payloads) - done)
            if room == 0:
                self.count_drop(len(payloads) - done)
                break
            for i in range(room):
                payload = payloads[done + i]
                size = min(len(payload), self.slot_size)
                self.pool[start + i, :size] = np.frombuffer(payload, np.uint8, size)
                d = self.descriptors[start + i]
                d["length"], d["line"], d["rx_ns"] = size, line, rx_ns
                d["flags"] = FLAG_TRUNCATED if size < len(payload) else 0
            self.publish(room)
            done += room
        return done

    # -- consumer ------------------------------------------------------------------------

    def peek(self, burst: int) -> tuple[int, int]:
        """(first slot, how many) ready and contiguous, at most ``burst``."""
        control = self.control
        tail = int(control[_TAIL])
        ready = int(control[_HEAD]) - tail
        start = tail & self.mask
        return start, min(burst, ready, self.slots - start)

    def release(self, count: int) -> None:
        """Give ``count`` slots back to the producer (after copying what was needed)."""
        self.control[_TAIL] += np.uint64(count)

    def dequeue(self, burst: int) -> list[tuple[bytes, int, int, int]]:
        """Copy out up to ``burst`` datagrams as (payload, line, flags, rx_ns), and release."""
        out: list[tuple[bytes, int, int, int]] = []
        while len(out) < burst:
            start, count = self.peek(burst - len(out))
            if count == 0:
                break
            rows = self.descriptors[start:start + count]
            for i, (length, line, flags, rx_ns) in enumerate(rows.tolist()):
                out.append((self.pool[start + i, :length].tobytes(), line, flags, rx_ns))
            self.release(count)
        return out
