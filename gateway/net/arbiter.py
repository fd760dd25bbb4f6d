"""A/B arbitration and gap recovery on MoldUDP64 sequence numbers: pure logic, time injected.

Packets from line A, line B and the rewinder go through :meth:`Arbiter.on_packet`;
whole packets come out of :attr:`Arbiter.deliveries` in sequence order, each
sequence number exactly once. The first copy wins; a later copy is a counted
duplicate. A packet ahead of the next expected number waits in a bounded
window. A gap is given ``gap_wait_ns`` for the other line to fill it, then
retransmission requests go to the rewinder (capped count, timeout, bounded
retries); when those run out the gap is declared lost (a :class:`GapLost`
event and the ``lost`` counter) and delivery goes on past it, so nothing hangs.

States, as the reference MoldUDP64 clients name them: IDLE (no packet yet),
BACKFILL (joined after the start: requesting what came before, at once),
GAP_FILL (a gap in a live stream), SYNCHRONIZED, ENDED (end of session
reached, every message delivered).
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field

import numpy as np

from nanogate.gateway.net.framing import HEADER, SlotsInOrder, in_order, sequence_order, trim
from nanogate.proto.faults import Fault
from nanogate.proto.moldudp64 import END_OF_SESSION_COUNT, HEADER_LENGTH, RetransmitRequest


class State(enum.Enum):
    IDLE = "idle"
    BACKFILL = "backfill"
    GAP_FILL = "gap_fill"
    SYNCHRONIZED = "synchronized"
    ENDED = "ended"


class Line(enum.IntEnum):
    A = 0
    B = 1
    RECOVERY = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
class Delivery:
    """A packet to apply: its payload starts exactly at the next sequence number.

    Read-only by convention, not frozen: one is made per packet on the
    latency path, and a frozen dataclass takes three times as long to make.
    """

    payload: bytes
    sequence: int
    count: int
    line: int
    rx_ns: int  # kernel receive time of the copy that won


@dataclass(frozen=True)
class GapLost:
    session: str
    first: int
    count: int


@dataclass(frozen=True)
class SessionChange:
    old: str
    new: str


@dataclass(frozen=True)
class EndOfSession:
    session: str
    next_sequence: int


Event = GapLost | SessionChange | EndOfSession


@dataclass
class ArbiterConfig:
    gap_wait_ns: int = 2_000_000  # how long the other line gets to fill a gap
    request_timeout_ns: int = 50_000_000  # a request unanswered this long is sent again
    max_retries: int = 3  # requests per gap position before it is declared lost
    max_request: int = 1000  # messages asked for in one request
    window: int = 8192  # packets held ahead of the next expected number
    max_jump: int = 50_000_000  # a sequence number this far ahead is not believed
    backfill: bool = True  # joining late: request from ``start_sequence``
    start_sequence: int = 1  # the first wanted (resume: last applied + 1)
    session: str | None = None  # the session ``start_sequence`` belongs to (resume)

    def __post_init__(self) -> None:
        for name in ("gap_wait_ns", "request_timeout_ns", "max_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.max_request <= 0xFFFE:
            raise ValueError(f"max_request must be 1..65534, got {self.max_request}")
        if self.window < 1 or self.start_sequence < 1:
            raise ValueError("window and start_sequence must be >= 1")


@dataclass
class ArbiterStats:
    packets: list[int] = field(default_factory=lambda: [0, 0, 0])  # by Line
    duplicates: list[int] = field(default_factory=lambda: [0, 0, 0])  # copies dropped, by Line
    won: list[int] = field(default_factory=lambda: [0, 0, 0])  # packets delivered, by Line
    messages: int = 0  # delivered
    recovered: int = 0  # delivered messages that came from the rewinder
    held: int = 0  # packets that waited in the window
    overflow: int = 0  # packets dropped because the window was full
    malformed: int = 0
    stale_session: int = 0  # packets of a session already finished
    heartbeats: int = 0
    gaps: int = 0  # gap episodes opened
    requests: int = 0  # retransmission requests sent (retries included)
    retries: int = 0
    lost: int = 0  # messages declared lost
    sessions: int = 0


@dataclass
class _Request:
    first: int
    count: int
    sent_ns: int
    tries: int


class Arbiter:
    def __init__(self, config: ArbiterConfig | None = None) -> None:
        self.config = config or ArbiterConfig()
        self.stats = ArbiterStats()
        self.state = State.IDLE
        self.session: str | None = None
        self.expected = self.config.start_sequence
        self.high = self.expected  # the highest "next sequence number" any packet showed
        self.end_sequence: int | None = None  # from the end-of-session packet
        self.deliveries: list[Delivery] = []
        self.events: list[Event] = []
        self.requests: list[RetransmitRequest] = []
        self._finished: set[str] = set()
        self._held: dict[int, tuple[bytes, int, int, int]] = {}  # seq -> payload, count, line, ts
        self._heap: list[int] = []
        self._gap_since: int | None = None
        self._requested = False  # this gap episode has already gone to the rewinder
        self._outstanding: _Request | None = None
        self._delivered = False  # anything delivered in this session yet
        self._slots_in_order = SlotsInOrder()

    # -- input ---------------------------------------------------------------------------

    def on_packet(self, line: int, payload: bytes, rx_ns: int, now_ns: int,
                  fault: Fault | int | None = None) -> None:
        """One datagram; ``fault``: its framing fault (nonzero drops it as malformed)."""
        stats = self.stats
        stats.packets[line] += 1
        if fault or len(payload) < HEADER_LENGTH:
            stats.malformed += 1
            return
        raw_session, sequence, count = HEADER.unpack_from(payload)
        session = raw_session.decode("latin-1").rstrip()
        if session != self.session and not self._adopt(session, now_ns):
            stats.stale_session += 1
            return
        if count in (END_OF_SESSION_COUNT, 0):
            if not self._believable(sequence):
                return
            if count == 0:
                stats.heartbeats += 1
            elif self.end_sequence is None:
                self.end_sequence = sequence
            self._see(sequence, now_ns)
            self._check_end()
            return
        end = sequence + count
        if end <= self.expected:
            stats.duplicates[line] += 1
            return
        if sequence > self.expected:
            if not self._believable(sequence):
                return
            self._hold(line, payload, sequence, count, rx_ns)
            self._see(end, now_ns)
            return
        if sequence < self.expected:
            payload = trim(payload, self.expected - sequence)
        self._deliver(payload, end - self.expected, line, rx_ns)
        self._drain()
        self._after_progress(now_ns)

    def on_burst(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 lines: np.ndarray, rx_ns: np.ndarray, faults: np.ndarray,
                 now_ns: int) -> None:
        """A burst of datagrams ``data[starts[i]:ends[i]]``, exactly as many :meth:`on_packet`.

        While the stream is in order (synchronized, nothing held, no gap) one
        compiled pass tells the next packets from duplicates: duplicates are
        only counted (never copied out), next packets are delivered whole.
        Anything else (a gap, a hold, a heartbeat, a fault, another session)
        goes through :meth:`on_packet`, one packet, and the fast pass resumes
        after it. Payloads are copied out of ``data``, so the caller may
        reuse its buffers (release the ring slots) as soon as this returns.
        """
        n = len(starts)
        if n == 0:
            return
        if self.session is not None and self.state is not State.ENDED:
            order = sequence_order(data, starts, ends, faults, self.session.encode("latin-1"))
            if order is not None:
                starts, ends, lines, rx_ns, faults = (
                    starts[order], ends[order], lines[order], rx_ns[order], faults[order])
        kinds = np.zeros(n, np.int8)
        line_list: list[int] = lines.tolist()
        stamps: list[int] = rx_ns.tolist()
        begin = 0
        while begin < n:
            if self._in_order():
                assert self.session is not None
                stop, _ = in_order(data, starts, ends, faults,
                                   self.session.encode("latin-1"), self.expected, begin, kinds)
                if stop > begin:
                    self._take_in_order(data, starts, ends, kinds, line_list, stamps,
                                        begin, stop)
                    begin = stop
                    if begin == n:
                        break
            payload = data[int(starts[begin]):int(ends[begin])].tobytes()
            self.on_packet(line_list[begin], payload, stamps[begin], now_ns,
                           int(faults[begin]))
            begin += 1

    def on_slots(self, pool: np.ndarray, slot_size: int, first: int, count: int,
                 lengths: np.ndarray, flags: np.ndarray, lines: np.ndarray,
                 stamps: np.ndarray) -> bool:
        """The common case of a ring burst, cheaply; False (nothing changed) otherwise.

        Slots ``first .. first + count - 1`` of ``pool`` (``slot_size`` bytes
        each; ``lengths``, ``flags`` (bit 0: truncated), ``lines`` and
        ``stamps`` are the ring's descriptor columns, indexed by slot). When
        the stream is in order and every datagram is a clean data packet of
        the session that, in sequence order, is the next one or a duplicate,
        one compiled pass does what :meth:`on_burst` would (the same
        deliveries, counters and state) without its NumPy set-up, and this
        returns True. Otherwise it changes nothing and returns False: hand the
        burst to :meth:`on_burst`.
        """
        if not self._in_order():
            return False
        assert self.session is not None
        fast = self._slots_in_order
        result = fast.classify(pool, slot_size, first, count, lengths, flags, lines, stamps,
                               self.session.encode("latin-1"), self.expected)
        if result is None:
            return False
        rows, after = result
        stats = self.stats
        packets, duplicates, won = stats.packets, stats.duplicates, stats.won
        tally = fast.tally.tolist()
        for line in range(3):
            packets[line] += tally[line]
            duplicates[line] += tally[3 + line]
        if rows:
            append = self.deliveries.append
            expected = self.expected
            for start, end, size, line, rx_ns in rows:
                append(Delivery(pool[start:end].tobytes(), expected, size, line, rx_ns))
                expected += size
                won[line] += 1
                if line == Line.RECOVERY:
                    stats.recovered += size
            stats.messages += after - self.expected
            self.expected = after
            self._delivered = True
        self._after_progress_in_order()
        return True

    def _in_order(self) -> bool:
        """True when the next packet can only be "the next one" or a duplicate."""
        return (self.session is not None and self.state is State.SYNCHRONIZED
                and not self._held and self.high <= self.expected and self.expected > 0)

    def _take_in_order(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                       kinds: np.ndarray, lines: list[int], stamps: list[int],
                       begin: int, stop: int) -> None:
        stats = self.stats
        packets, duplicates = stats.packets, stats.duplicates
        deliver = self._deliver
        position = HEADER.size - 2
        for p, kind in enumerate(kinds[begin:stop].tolist(), begin):
            line = lines[p]
            packets[line] += 1
            if kind == 1:
                duplicates[line] += 1
                continue
            payload = data[int(starts[p]):int(ends[p])].tobytes()
            deliver(payload, int.from_bytes(payload[position:position + 2], "big"), line,
                    stamps[p])
        self._after_progress_in_order()

    def _after_progress_in_order(self) -> None:
        # What _after_progress does when no gap is open and nothing is outstanding.
        self._gap_since, self._requested, self._outstanding = None, False, None
        self._check_end()

    def poll(self, now_ns: int) -> None:
        """Advance the timers: request, retry, or give a gap up. Call often."""
        if not self._gap_open():
            return
        config = self.config
        request = self._outstanding
        if request is None:
            since = self._gap_since if self._gap_since is not None else now_ns
            if (self.state is State.BACKFILL or self._requested
                    or now_ns - since >= config.gap_wait_ns):
                self._request(now_ns, tries=1)
        elif now_ns - request.sent_ns >= config.request_timeout_ns:
            if request.tries > config.max_retries:
                self._give_up(now_ns)
            else:
                self.stats.retries += 1
                self._request(now_ns, tries=request.tries + 1)

    def finish(self, now_ns: int) -> None:
        """Stop waiting: whatever is still missing is declared lost (shutdown).

        Every gap, not just the first: packets held beyond a second gap are
        delivered, and the messages between are counted lost, never dropped
        unseen.
        """
        while self._gap_open():
            self._give_up(now_ns)  # moves ``expected`` forward: the loop ends

    # -- output --------------------------------------------------------------------------

    def take(self) -> tuple[list[Delivery], list[Event], list[RetransmitRequest]]:
        out = self.deliveries, self.events, self.requests
        self.deliveries, self.events, self.requests = [], [], []
        return out

    @property
    def gap(self) -> tuple[int, int] | None:
        """The missing range [first, end) at the next expected number, if any."""
        if not self._gap_open():
            return None
        return self.expected, self._next_available()

    # -- inside --------------------------------------------------------------------------

    def _adopt(self, session: str, now_ns: int) -> bool:
        if session in self._finished:
            return False
        if self.session is not None:
            if self._gap_open():
                self._give_up(now_ns)
            self._finished.add(self.session)
            self.events.append(SessionChange(self.session, session))
            self.expected = self.high = 1  # a new session numbers from 1
        elif self.config.session is not None and self.config.session != session:
            self.expected = self.high = 1  # the resumed session is over: this one is new
        self.session = session
        self.stats.sessions += 1
        self.end_sequence = None
        self._held.clear()
        self._heap.clear()
        self._outstanding, self._gap_since, self._requested = None, None, False
        self._delivered = False
        self.state = State.SYNCHRONIZED
        if not self.config.backfill:
            self.expected = self.high = 0  # the first packet sets it (see _see)
        return True

    def _believable(self, sequence: int) -> bool:
        if self.expected == 0:  # no backfill: start wherever the stream is
            self.expected = self.high = sequence
            return True
        if sequence - self.expected > self.config.max_jump:
            self.stats.malformed += 1
            return False
        return True

    def _see(self, next_sequence: int, now_ns: int) -> None:
        if next_sequence <= self.high:
            return
        self.high = next_sequence
        if next_sequence > self.expected and self._gap_since is None:
            self._gap_since = now_ns
            self.stats.gaps += 1
            if self.state is State.SYNCHRONIZED:
                self.state = State.GAP_FILL if self._delivered else State.BACKFILL
            self.poll(now_ns)

    def _hold(self, line: int, payload: bytes, sequence: int, count: int, rx_ns: int) -> None:
        if sequence in self._held:
            self.stats.duplicates[line] += 1
            return
        if len(self._held) >= self.config.window:
            self.stats.overflow += 1
            return
        self._held[sequence] = (payload, count, line, rx_ns)
        heapq.heappush(self._heap, sequence)
        self.stats.held += 1

    def _deliver(self, payload: bytes, count: int, line: int, rx_ns: int) -> None:
        self.deliveries.append(Delivery(payload, self.expected, count, line, rx_ns))
        self.expected += count
        self._delivered = True
        self.stats.messages += count
        self.stats.won[line] += 1
        if line == Line.RECOVERY:
            self.stats.recovered += count

    def _drain(self) -> None:
        heap, held = self._heap, self._held
        while heap and heap[0] <= self.expected:
            sequence = heapq.heappop(heap)
            payload, count, line, rx_ns = held.pop(sequence)
            if sequence + count <= self.expected:
                self.stats.duplicates[line] += 1
                continue
            if sequence < self.expected:
                payload = trim(payload, self.expected - sequence)
            self._deliver(payload, sequence + count - self.expected, line, rx_ns)

    def _after_progress(self, now_ns: int) -> None:
        request = self._outstanding
        if request is not None:
            if self.expected >= request.first + request.count:
                self._outstanding = None
            else:
                request.tries = 0  # answers are arriving: not a failure
        if self._gap_open():
            self._gap_since = now_ns
        else:
            self._gap_since, self._requested, self._outstanding = None, False, None
            if self.state in (State.BACKFILL, State.GAP_FILL):
                self.state = State.SYNCHRONIZED
        self._check_end()

    def _check_end(self) -> None:
        if (self.end_sequence is not None and self.expected >= self.end_sequence
                and self.state is not State.ENDED and self.session is not None):
            self.state = State.ENDED
            self.events.append(EndOfSession(self.session, self.expected))

    def _gap_open(self) -> bool:
        return self.high > self.expected and self.expected > 0

    def _next_available(self) -> int:
        return min(self._heap[0], self.high) if self._heap else self.high

    def _request(self, now_ns: int, tries: int) -> None:
        assert self.session is not None
        count = min(self._next_available() - self.expected, self.config.max_request)
        self._outstanding = _Request(self.expected, count, now_ns, tries)
        self._requested = True
        self.requests.append(RetransmitRequest(self.session, self.expected, count))
        self.stats.requests += 1

    def _give_up(self, now_ns: int) -> None:
        assert self.session is not None
        resume = self._next_available()
        lost = resume - self.expected
        self.events.append(GapLost(self.session, self.expected, lost))
        self.stats.lost += lost
        self.expected = resume
        self._outstanding, self._requested = None, False
        self._drain()
        self._after_progress(now_ns)
