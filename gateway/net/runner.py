"""The gateway: receive process -> ring -> worker (arbiter, recovery, device, books, dump).

:class:`Gateway` owns the shared-memory ring and starts the receive process
(:func:`nanogate.gateway.net.rx.receive_main`), or with ``inline_receive``
receives in the worker itself; its worker loop, in the calling process,
pulls bursts from the ring, checks their framing in one compiled pass over
the pool, arbitrates them a burst at a time, asks the rewinder for what
both lines lost, and hands the winning packets to the device backend, whose
BookEvents update the books and go to batch subscribers and subscribers.
Every counter is in :meth:`Gateway.counters`; latency is kernel receive
time -> books applied.
"""

from __future__ import annotations

import json
import multiprocessing
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from nanogate.gateway.book import BookSet
from nanogate.gateway.book import warm_up as warm_books
from nanogate.gateway.device import FeedParser, open_device
from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.arbiter import (
    Arbiter,
    ArbiterConfig,
    Delivery,
    EndOfSession,
    Event,
    GapLost,
    Line,
)
from nanogate.gateway.net.framing import (
    HEADER,
    SlotsInOrder,
    check_burst,
    in_order,
    sequence_order,
)
from nanogate.gateway.net.metrics import Latency, MetricsServer, registry_for
from nanogate.gateway.net.recorder import LineRecorder
from nanogate.gateway.net.resume import ResumeFile, ResumePoint
from nanogate.gateway.net.ring import DESCRIPTOR, FLAG_TRUNCATED, Ring, Word
from nanogate.gateway.net.rx import BurstReceiver, ReceiveSpec, receive_main
from nanogate.gateway.net.sockets import open_receiver, open_unicast
from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.itch import decode_message
from nanogate.proto.moldudp64 import RetransmitRequest, encode_packet

Subscriber = Callable[[np.ndarray], None]


@dataclass(frozen=True)
class AppliedBatch:
    """What one worker pass applied: handed to ``batch_subscribers`` after the books.

    ``events`` are the BookEvents (BOOK_EVENT_DTYPE) of messages
    ``first_sequence`` .. ``next_sequence - 1`` of ``session``, already applied to
    ``Gateway.books``; ``instruments`` the distinct stock locates they touched
    (sorted; a superset of the books whose top changed), so a strategy reads
    ``books.book(locate).best_bid()`` for just those. ``rx_ns``: the earliest
    kernel receive time in the batch (the oldest message's age is now - rx_ns).
    """

    events: np.ndarray
    instruments: np.ndarray
    session: str | None
    first_sequence: int
    next_sequence: int
    rx_ns: int


BatchSubscriber = Callable[[AppliedBatch], None]


class GatewayError(RuntimeError):
    """The gateway could not start (receive process, sockets, device)."""


@dataclass
class GatewayConfig:
    line_a: Endpoint
    line_b: Endpoint | None = None
    rewinder: Endpoint | None = None
    interface: str = "127.0.0.1"
    device: str = "software"
    dump: Path | None = None
    exit_on_end_of_session: bool = False
    metrics_port: int | None = None
    record_dir: Path | None = None
    state_file: Path | None = None
    arbiter: ArbiterConfig = field(default_factory=ArbiterConfig)
    slots: int = 16384
    slot_size: int = 2048
    burst: int = 64
    use_recvmmsg: bool = True
    busy_poll: bool = False
    books: bool = True
    max_seconds: float | None = None  # stop after this long, whatever happens
    # Receive in the worker itself (no receive process, no doorbell): one wake-up
    # instead of two per packet, for latency when cores are few.
    inline_receive: bool = False
    # After the last work, keep looking this long before sleeping: a packet in that
    # window costs no wake-up (each costs ~0.1-0.3 ms on this VM, caches cold after).
    spin_us: int = 50
    # Options of the device backend (``--device-option``: aws bdf/slot, pynq bitstream).
    device_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class GatewayCounters:
    events: int = 0  # BookEvents from the device
    dumped: int = 0  # JSON lines written
    undecodable: int = 0  # messages the dump could not decode (counted by the device too)
    gap_events: int = 0
    end_of_session: int = 0
    recovery_packets: int = 0
    request_errors: int = 0


class Gateway:
    def __init__(self, config: GatewayConfig, subscribers: list[Subscriber] | None = None,
                 batch_subscribers: list[BatchSubscriber] | None = None) -> None:
        if config.spin_us < 0:
            raise ValueError(f"spin_us must be >= 0, got {config.spin_us}")
        self.config = config
        self.subscribers = list(subscribers or [])
        self.batch_subscribers = list(batch_subscribers or [])
        self.counters_ = GatewayCounters()
        self.latency = Latency()
        self.books = BookSet()
        self.events_log: list[Event] = []
        self._resume = ResumeFile(config.state_file) if config.state_file else None
        arbiter_config = config.arbiter
        if self._resume is not None:
            point = self._resume.load()
            if point is not None:
                arbiter_config.start_sequence = point.next_sequence
                arbiter_config.session = point.session
        self.arbiter = Arbiter(arbiter_config)
        self.parser: FeedParser = open_device(config.device,
                                              **config.device_options).feed_parser()
        self.lines = [config.line_a] + ([config.line_b] if config.line_b else [])
        self.ring: Ring | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._request_sock: socket.socket | None = None
        self._bell: socket.socket | None = None  # the receive process wakes the worker here
        self._receiver: BurstReceiver | None = None  # inline_receive: the worker receives
        self._line_socks: list[socket.socket] = []
        self._readable: select.poll | None = None  # the sockets a step reads, for poll(0)
        self._ring_counters: dict[str, int] = {}  # the ring's counters, kept at close
        self._metrics: MetricsServer | None = None
        self._dump: TextIO | None = None
        self._recorder: LineRecorder | None = None
        self.ended = False

    # -- life cycle ----------------------------------------------------------------------

    def start(self, ready_timeout: float = 20.0) -> Gateway:
        config = self.config
        self._warm_up()
        try:
            self.ring = Ring.create(config.slots, config.slot_size)
            if config.inline_receive:
                self._start_inline(self.ring)
            else:
                self._start_process(self.ring, ready_timeout)
            if config.rewinder is not None:
                self._request_sock = open_unicast(Endpoint(config.interface, 0))
            if config.metrics_port is not None:
                self._metrics = MetricsServer(registry_for(self.counters, self.latency),
                                              config.metrics_port, config.interface)
            self._open_outputs()
        except BaseException:
            self.close()
            raise
        return self

    def _start_inline(self, ring: Ring) -> None:
        config = self.config
        for group in self.lines:
            self._line_socks.append(open_receiver(group, config.interface))
        self._receiver = BurstReceiver(ring, list(enumerate(self._line_socks)),
                                       burst=config.burst, use_recvmmsg=config.use_recvmmsg)
        ring.control[Word.READY] = np.uint64(1)

    def _start_process(self, ring: Ring, ready_timeout: float) -> None:
        config = self.config
        self._bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._bell.bind(f"\0nanogate-{ring.name}")
        self._bell.setblocking(False)
        spec = ReceiveSpec(ring.name, config.slots, config.slot_size,
                           tuple(self.lines), config.interface, burst=config.burst,
                           use_recvmmsg=config.use_recvmmsg, busy_poll=config.busy_poll,
                           doorbell=f"\0nanogate-{ring.name}")
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(target=receive_main, args=(spec,),
                                        name="nanogate-rx", daemon=True)
        self._process.start()
        deadline = time.monotonic() + ready_timeout
        while not ring.control[Word.READY]:
            if not self._process.is_alive():
                raise GatewayError(f"receive process exited (code {self._process.exitcode})"
                                   " before joining the lines")
            if time.monotonic() > deadline:
                raise GatewayError(f"receive process not ready after {ready_timeout} s")
            time.sleep(0.005)

    def _warm_up(self) -> None:
        """Load the compiled kernels now, not on the first packet's latency."""
        heartbeat = encode_packet("WARMUP", 1)
        data = np.frombuffer(heartbeat, np.uint8)
        check_burst(data, np.array([0]), np.array([20]))
        for buffer in (data, np.zeros(64, np.uint8)):  # read-only bytes, and the pool
            starts, ends, faults = np.array([0, 0]), np.array([20, 20]), np.zeros(2, np.int8)
            check_burst(buffer, starts, ends)
            in_order(buffer, starts, ends, faults, b"WARMUP", 1, 0, np.zeros(2, np.int8))
            sequence_order(buffer, starts, ends, faults, b"WARMUP")
        slots = np.zeros(2, DESCRIPTOR)  # the ring's descriptor columns: strided views
        slots["length"] = 20
        SlotsInOrder().classify(np.zeros(64, np.uint8), 32, 0, 2, slots["length"],
                                slots["flags"], slots["line"], slots["rx_ns"], b"WARMUP", 1)
        Latency().record_many(np.arange(1, 11), np.ones(10, np.int64))
        if self.config.device == "software":  # compiled kernels; hardware is not touched
            open_device("software").feed_parser().push([heartbeat])
        if self.config.books:
            warm_books()

    def _open_outputs(self) -> None:
        config = self.config
        if config.dump is not None and self._dump is None:
            self._dump = open(config.dump, "a", encoding="utf-8")  # noqa: SIM115
        if config.record_dir is not None and self._recorder is None:
            self._recorder = LineRecorder(config.record_dir, self.lines, config.interface)

    @property
    def metrics_port(self) -> int | None:
        return self._metrics.port if self._metrics else None

    def close(self) -> None:
        """Stop the receive process, flush the state file, the dump and the recordings."""
        ring = self.ring
        if ring is not None:
            ring.control[Word.STOP] = np.uint64(1)
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
            self._process = None
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        for sock in self._line_socks:
            sock.close()
        self._line_socks = []
        self._readable = None
        self._save(force=True)
        for closer in (self._dump, self._recorder, self._metrics, self._request_sock,
                       self._bell):
            if closer is not None:
                closer.close()
        self._dump = self._recorder = self._metrics = None
        self._request_sock = self._bell = None
        if ring is not None:
            self._ring_counters = self._read_ring(ring)
            self.ring = None
            ring.close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        """Work until the end of session (if asked), ``stop()`` or the time limit."""
        limit = self.config.max_seconds
        deadline = time.monotonic() + limit if limit is not None else None
        poller = select.poll()
        for sock in (self._bell, self._request_sock, *self._line_socks):
            if sock is not None:
                poller.register(sock, select.POLLIN)
        spin_ns = self.config.spin_us * 1000
        clock = time.perf_counter_ns
        last_work = clock()
        while True:
            if self.step():
                last_work = clock()
                continue
            if self.ended and self.config.exit_on_end_of_session:
                return
            if stop is not None and stop():
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            if clock() - last_work >= spin_ns:
                self._sleep(poller)
                last_work = clock()  # woken: spin again before the next sleep

    def _sleep(self, poller: select.poll) -> None:
        """Block until the receive process rings, a recovery packet comes, or 1 ms passes.

        SLEEPING is raised before the ring is looked at again, so a burst
        published in between is seen here or rings the bell; were both stores
        to pass each other, the 1 ms timeout bounds the cost.
        """
        ring = self.ring
        assert ring is not None
        if self.config.busy_poll:
            return
        if self._receiver is not None:  # inline: the line sockets themselves wake us
            poller.poll(1)
            return
        ring.control[Word.SLEEPING] = np.uint64(1)
        if ring.used() == 0:
            poller.poll(1)
        ring.control[Word.SLEEPING] = np.uint64(0)
        bell = self._bell
        while bell is not None:
            try:
                bell.recv(64)
            except (BlockingIOError, InterruptedError):
                break

    def step(self, burst: int = 512) -> int:
        """One pass: ring, recovery socket, timers. Returns the datagrams handled.

        One ``poll(0)`` says which sockets (inline: the lines too) have
        anything: a receive call on an empty socket costs 2-3 us (an
        exception on the recovery socket, a ctypes call on a line), the
        ``poll`` under 1 us for all of them.
        """
        ready = self._ready_sockets()
        receiver = self._receiver
        if receiver is not None:
            for line, sock in receiver.sockets:
                if sock.fileno() in ready:
                    receiver.receive(line, sock)
        handled = self._pull_ring(burst)
        if self._request_sock is not None and self._request_sock.fileno() in ready:
            handled += self._pull_recovery()
        now = time.monotonic_ns()
        self.arbiter.poll(now)
        self._flush()
        return handled

    def _ready_sockets(self) -> set[int]:
        """The descriptors of the sockets with data (or an error) to read, now."""
        readable = self._readable
        if readable is None:
            readable = self._readable = select.poll()
            for sock in (self._request_sock, *self._line_socks):
                if sock is not None:
                    readable.register(sock, select.POLLIN)
        return {fd for fd, _ in readable.poll(0)}

    def finish(self) -> None:
        """Declare whatever is still missing lost and apply the rest (at shutdown)."""
        self.arbiter.finish(time.monotonic_ns())
        self._flush()

    def _pull_ring(self, burst: int) -> int:
        ring = self.ring
        assert ring is not None
        start, count = ring.peek(burst)
        if count == 0:
            return 0
        if self._recorder is not None:
            self._record(ring, start, count)
        # The common case (in order: each the next packet or a duplicate) in one compiled
        # pass; anything else through the general burst path. Both copy out what they
        # keep: the slots are free once they return.
        if not self.arbiter.on_slots(ring.pool_flat, ring.slot_size, start, count,
                                     ring.lengths, ring.flags, ring.lines, ring.rx_ns):
            rows = ring.descriptors[start:start + count]
            starts = np.arange(start, start + count, dtype=np.int64) * ring.slot_size
            ends = starts + rows["length"]
            faults = check_burst(ring.pool_flat, starts, ends)
            faults[(rows["flags"] & FLAG_TRUNCATED) != 0] = Fault.TRUNCATED
            self.arbiter.on_burst(ring.pool_flat, starts, ends, rows["line"], rows["rx_ns"],
                                  faults, time.monotonic_ns())
        ring.release(count)
        return count

    def _record(self, ring: Ring, start: int, count: int) -> None:
        recorder = self._recorder
        assert recorder is not None
        pool, size = ring.pool_flat, ring.slot_size
        lengths, lines, stamps = (column[start:start + count].tolist()
                                  for column in (ring.lengths, ring.lines, ring.rx_ns))
        for slot, length, line, rx_ns in zip(range(start, start + count), lengths, lines,
                                             stamps, strict=True):
            recorder.write(line, pool[slot * size:slot * size + length].tobytes(), rx_ns)

    def _pull_recovery(self) -> int:
        """Read up to 256 rewinder answers and hand them to the arbiter as one burst."""
        sock = self._request_sock
        if sock is None:
            return 0
        payloads: list[bytes] = []
        stamps: list[int] = []
        for _ in range(256):
            try:
                payload = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.counters_.request_errors += 1  # ICMP unreachable: rewinder down
                break
            payloads.append(payload)
            stamps.append(time.time_ns())
        got = len(payloads)
        if not got:
            return 0
        self.counters_.recovery_packets += got
        if self._recorder is not None:
            for payload, rx_ns in zip(payloads, stamps, strict=True):
                self._recorder.write(Line.RECOVERY, payload, rx_ns)
        ends = np.cumsum(np.fromiter(map(len, payloads), np.int64, got))
        starts = np.concatenate(([0], ends[:-1]))
        data = np.frombuffer(b"".join(payloads), np.uint8)
        self.arbiter.on_burst(data, starts, ends, np.full(got, Line.RECOVERY, np.int64),
                              np.array(stamps, np.int64), check_burst(data, starts, ends),
                              time.monotonic_ns())
        return got

    def _flush(self) -> None:
        arbiter = self.arbiter
        if not (arbiter.deliveries or arbiter.events or arbiter.requests):
            return  # the idle step's usual case
        deliveries, events, requests = arbiter.take()
        if requests:
            self._send_requests(requests)
        if deliveries:
            self._apply(deliveries)
        for event in events:
            self.events_log.append(event)
            if isinstance(event, GapLost):
                self.counters_.gap_events += 1
            elif isinstance(event, EndOfSession):
                self.counters_.end_of_session += 1
                self.ended = True
        if deliveries or events:
            self._save()

    def _send_requests(self, requests: list[RetransmitRequest]) -> None:
        sock, target = self._request_sock, self.config.rewinder
        if sock is None or target is None:
            return  # no rewinder: requests time out and the gap is declared lost
        for request in requests:
            try:
                sock.sendto(request.encode(), tuple(target))
            except OSError:
                self.counters_.request_errors += 1

    def _apply(self, deliveries: list[Delivery]) -> None:
        events = self.parser.push([d.payload for d in deliveries])
        self.counters_.events += len(events)
        if self.config.books and len(events):
            self.books.apply(events)
        applied = time.time_ns()  # the books are updated: what the latency measures
        if self.batch_subscribers:
            first, last = deliveries[0], deliveries[-1]
            batch = AppliedBatch(events, np.unique(events["stock_locate"]),
                                 self.arbiter.session, first.sequence,
                                 last.sequence + last.count, min(d.rx_ns for d in deliveries))
            for batch_subscriber in self.batch_subscribers:
                batch_subscriber(batch)
        for subscriber in self.subscribers:
            subscriber(events)
        latency = self.latency
        if len(deliveries) <= 8:  # the usual case at modest rates: no array set-up
            for d in deliveries:
                latency.record(applied - d.rx_ns, d.count)
        else:  # a backlog: one pass, one histogram call per distinct bucket
            n = len(deliveries)
            latency.record_many(applied - np.fromiter((d.rx_ns for d in deliveries),
                                                      np.int64, n),
                                np.fromiter((d.count for d in deliveries), np.int64, n))
        if self._dump is not None:
            self._write_dump(deliveries)

    def _write_dump(self, deliveries: list[Delivery]) -> None:
        out = self._dump
        assert out is not None
        lines: list[str] = []
        for d in deliveries:
            payload = d.payload
            position = HEADER.size
            for k in range(d.count):
                length = int.from_bytes(payload[position:position + 2], "big")
                body = payload[position + 2:position + 2 + length]
                position += 2 + length
                try:
                    message = decode_message(body)
                except FeedFault:
                    self.counters_.undecodable += 1
                    continue
                lines.append(json.dumps({"seq": d.sequence + k, **message},
                                        separators=(",", ":")))
        if lines:
            out.write("\n".join(lines) + "\n")
            self.counters_.dumped += len(lines)

    def _save(self, force: bool = False) -> None:
        arbiter = self.arbiter
        if self._resume is not None and arbiter.session is not None:
            self._resume.save(ResumePoint(arbiter.session, arbiter.expected),
                              time.monotonic_ns(), force=force)

    # -- replay --------------------------------------------------------------------------

    def replay(self, path: str | Path, batch: int = 256) -> int:
        """Put a capture or BinaryFILE through the arbiter and device, without the network.

        A capture's datagrams keep their line (by destination: line B's address
        is B, anything else A); a BinaryFILE is cut into packets of session
        ``NANOGATE`` numbered from 1. Returns the datagrams replayed.
        """
        from nanogate.gateway.feed.source import open_feed
        from nanogate.proto import binaryfile, moldudp64

        feed = open_feed(path)
        self._open_outputs()
        if feed.is_capture:
            line_b = tuple(self.config.line_b) if self.config.line_b else None
            datagrams = [(d.payload, Line.B if d.destination == line_b else Line.A,
                          int(d.timestamp * 1e9)) for d in feed.datagrams]
        else:
            framing = binaryfile.frame(feed.data)
            messages = [feed.data[o:o + n] for o, n in framing.messages]
            stamp = time.time_ns()
            datagrams = [(p.encode(), Line.A, stamp)
                         for p in moldudp64.packetize("NANOGATE", messages, 1)]
            datagrams.append((moldudp64.encode_packet("NANOGATE", len(messages) + 1,
                                                      end_of_session=True), Line.A, stamp))
        # The arbiter's clock is the capture's: a gap waits for the other line and the
        # rewinder as long as it did live, then is given up, and the packets held
        # behind it flow on (on a wall clock a whole capture replays within a gap wait).
        for index, (payload, line, rx_ns) in enumerate(datagrams):
            fault = check_burst(np.frombuffer(payload, np.uint8), np.array([0]),
                                np.array([len(payload)]))[0]
            self.arbiter.on_packet(line, payload, rx_ns, rx_ns, int(fault))
            self.arbiter.poll(rx_ns)
            if index % batch == batch - 1:
                self._flush()
        self.finish()
        return len(datagrams)

    # -- metrics -------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Every counter by Prometheus-friendly name."""
        stats = self.arbiter.stats
        out: dict[str, int] = {}
        for line in Line:
            out[f"packets_{line.label}"] = stats.packets[line]
            out[f"duplicates_{line.label}"] = stats.duplicates[line]
            out[f"won_{line.label}"] = stats.won[line]
        out["packets"] = sum(stats.packets)
        out["duplicates"] = sum(stats.duplicates)
        for name in ("messages", "recovered", "held", "overflow", "malformed", "stale_session",
                     "heartbeats", "gaps", "requests", "retries", "lost", "sessions"):
            out[name] = getattr(stats, name)
        gateway = self.counters_
        for name in ("events", "dumped", "undecodable", "gap_events", "end_of_session",
                     "recovery_packets", "request_errors"):
            out[name] = getattr(gateway, name)
        out.update(self._read_ring(self.ring) if self.ring is not None
                   else self._ring_counters)
        for name, value in self.parser.counters().items():
            out[f"device_{name}"] = value
        out["book_issues"] = self.books.issues
        return out

    @staticmethod
    def _read_ring(ring: Ring) -> dict[str, int]:
        return {"ring_drops": ring.counter(Word.DROPS),
                "rx_truncated": ring.counter(Word.TRUNCATED),
                "rx_bursts": ring.counter(Word.BURSTS), "rx_errors": ring.counter(Word.ERRORS)}

    def summary(self) -> dict[str, object]:
        return {"state": self.arbiter.state.value, "session": self.arbiter.session,
                "next_sequence": self.arbiter.expected, **self.counters(),
                **self.latency.summary_us()}

