"""A seeded, book-consistent synthetic TotalView-ITCH 5.0 session, fast enough for benchmarks.

A session over ``K`` instruments is, in order::

    S 'O' (start of messages), S 'S' (start of system hours),
    R x K (stock directory, locates 1..K), H x K (trading action 'T'),
    S 'Q' (start of market hours),
    body: A F E C X D U P Q I,
    S 'M' (end of market hours), S 'E' (end of system hours), S 'C' (end of messages)

so a session of ``N`` messages has ``N - (2K + 6)`` body messages.

The body is book-consistent: E, C, X, D and U only ever name a live order and
never take more shares than it has left; an order executed in full, deleted or
replaced is gone; order reference numbers strictly increase. Prices sit on a
one-cent grid around a per-instrument reference price (the "mid") that
random-walks: a buy is added below the mid at the time, a sell above it. Old
orders keep their price while the mid moves on, so a new order can be priced
through the other side: it then executes, as a marketable order does, against
the oldest order at the other side's best price (one E for the shares the two
have in common; the rest is not added, as for an immediate-or-cancel order),
and a replace priced through the other side is moved a tick inside it. So no
book is ever crossed or locked. Other executions (E, C) pick resting orders at
random, not from the top of the book. Trades (P) name order reference 0, as
NASDAQ's feed does for non-displayed orders. Timestamps are non-decreasing
nanoseconds since midnight: bursty arrivals, denser near the open and the close.

Speed: the book state is walked by one compiled loop (numba) over random
numbers drawn in bulk, a chunk at a time, and each message type is encoded
in one vectorised step through a big-endian NumPy dtype built from the
message table in :mod:`nanogate.proto.itch` (the one definition of every
offset). The same seed gives the same bytes.

Layout: this module holds the session (its shape and times, the generator
that carries the book from chunk to chunk, the writers and the entry points);
:mod:`nanogate.sim.synth_book` the compiled book walk;
:mod:`nanogate.sim.synth_encode` the columns and their BinaryFILE encoding.
Every public name of those two is importable from here too.
"""

from __future__ import annotations

import datetime
import math
import operator
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numba
import numpy as np

from nanogate.gateway.feed.capture import PcapWriter
from nanogate.proto import moldudp64
from nanogate.sim.synth_book import (
    _DRAWS,
    _INST_ASK,
    _INST_BID,
    _INST_FIELDS,
    _KIND_CDF,
    _KIND_TYPES,
    _NO_ASK,
    _NO_BID,
    _ORDER_FIELDS,
    BODY_MIX,
    TICK,
    _walk_book,
)
from nanogate.sim.synth_encode import (
    _LENGTHS,
    I64,
    MPIDS,
    SESSION_TYPES,
    U8,
    Columns,
    encode_binaryfile,
    message_dtype,
)

__all__ = [
    "BODY_MIX", "DEFAULT_DESTINATION", "DEFAULT_MOLD_SESSION", "DEFAULT_SOURCE",
    "END_OF_MARKET_HOURS", "END_OF_MESSAGES", "END_OF_SYSTEM_HOURS", "I64", "MAX_INSTRUMENTS",
    "MAX_PAYLOAD", "MPIDS", "SESSION_TYPES", "START_OF_MARKET_HOURS", "START_OF_MESSAGES",
    "START_OF_SYSTEM_HOURS", "TICK", "TICKERS", "TRADING_DATE", "U8", "Chunk", "Columns",
    "Progress", "Session", "SynthFormat", "SynthSummary", "encode_binaryfile", "fixed_overhead",
    "generate_session", "message_dtype", "output_format", "symbol", "write_synthetic",
]

SynthFormat = Literal["binaryfile", "pcap"]
Progress = Callable[[int, int], None]

MAX_INSTRUMENTS = 0xFFFF  # stock locate is a u16 and 0 is for system messages
DEFAULT_DESTINATION = ("239.1.1.1", 5001)
DEFAULT_SOURCE = ("127.0.0.1", 40000)
DEFAULT_MOLD_SESSION = "SYNTH00001"
MAX_PAYLOAD = 1400  # MoldUDP64 payload per datagram, below a 1500-byte Ethernet MTU
#: The trading day the pcap frame times fall on; ITCH times count from its
#: midnight in New York (EST in January, UTC-5).
TRADING_DATE = datetime.date(2024, 1, 2)
_MIDNIGHT_EPOCH = datetime.datetime(TRADING_DATE.year, TRADING_DATE.month, TRADING_DATE.day,
                                    5, tzinfo=datetime.UTC).timestamp()

_NS = 1_000_000_000
_HOUR = 3600 * _NS
START_OF_MESSAGES = 3 * _HOUR
START_OF_SYSTEM_HOURS = 4 * _HOUR
START_OF_MARKET_HOURS = 9 * _HOUR + 30 * 60 * _NS
END_OF_MARKET_HOURS = 16 * _HOUR
END_OF_SYSTEM_HOURS = 20 * _HOUR
END_OF_MESSAGES = 20 * _HOUR + 5 * 60 * _NS
_DIRECTORY_SPACING = 1_000  # ns between the start-of-day directory messages
_DENSITY_SWING = 0.6  # message density at the open/close vs midday: (1+s)/(1-s) = 4x
_LIVE_ORDERS_PER_INSTRUMENT = 256  # book size an active instrument settles at
_MAX_LIVE_ORDERS = 1 << 20
_CHUNK = 1 << 18  # body messages per chunk: fixed, so the random draws (and bytes) are too
_NOII_DIRECTIONS = np.frombuffer(b"BSNO", dtype=np.uint8)
_NOII_CROSS_TYPES = np.frombuffer(b"OCH", dtype=np.uint8)
_CROSS_TYPES = np.frombuffer(b"OCHI", dtype=np.uint8)
_PRICE_VARIATIONS = np.frombuffer(b"L123456789ABC ", dtype=np.uint8)


def fixed_overhead(instruments: int) -> int:
    """Messages every session has besides its body: 6 system events, an R and an H each."""
    return 2 * instruments + 6


#: The first instruments of a session carry familiar tickers, so the example strategy
#: specs (examples/strategies) trade a synthetic session as they would a real one.
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "INTC", "NFLX",
           "ADBE", "CSCO", "PEP", "COST", "AVGO", "QCOM")


def symbol(locate: int) -> str:
    """The ticker of stock locate ``locate`` (1-based): AAPL, MSFT, ... (:data:`TICKERS`),
    then SYM0017 .. SYM65535."""
    if 1 <= locate <= len(TICKERS):
        return TICKERS[locate - 1]
    return f"SYM{locate:04d}"


# --- the session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A stretch of the session: its columns and their BinaryFILE encoding."""

    first: int  # index of its first message in the session (0-based)
    columns: Columns
    data: U8  # [u16 length][message] blocks
    starts: I64  # offset in ``data`` of each message, after its prefix

    def __len__(self) -> int:
        return len(self.columns)

    def messages(self) -> Iterator[bytes]:
        data = self.data.tobytes()
        for start, length in zip(self.starts.tolist(),
                                 _LENGTHS[self.columns.msg_type].tolist(), strict=True):
            yield data[start:start + length]


@dataclass
class SynthSummary:
    """What :func:`write_synthetic` wrote."""

    path: Path
    format: SynthFormat
    messages: int
    instruments: int
    seed: int
    bytes_written: int
    packets: int  # MoldUDP64 datagrams, end of session included; 0 for a BinaryFILE
    counts: dict[str, int]  # messages by ITCH type
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else math.inf


def _check_int(name: str, value: int) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class Session:
    """A synthetic session: ``size`` messages over ``instruments`` stocks, from ``seed``.

    Nothing is generated up front: every walk of :meth:`chunks` regenerates the
    same messages from the seed, a chunk at a time, so any size fits in memory
    while it streams to a file.
    """

    size: int
    instruments: int
    seed: int

    def __post_init__(self) -> None:
        size = _check_int("messages", self.size)
        instruments = _check_int("instruments", self.instruments)
        seed = _check_int("seed", self.seed)
        # plain ints from here on (a NumPy integer would do, but hashes and prints oddly)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "instruments", instruments)
        object.__setattr__(self, "seed", seed)
        if not 1 <= instruments <= MAX_INSTRUMENTS:
            raise ValueError(f"instruments must be 1..{MAX_INSTRUMENTS} (a stock locate is "
                             f"a u16 and 0 is for system messages), got {instruments}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        overhead = fixed_overhead(instruments)
        if size < overhead:
            raise ValueError(
                f"{size} messages cannot hold a session over {instruments} instrument(s): "
                f"it needs at least {overhead} (6 system events, a directory (R) and a "
                f"trading action (H) message per instrument)")

    def __len__(self) -> int:
        return self.size

    @property
    def body_size(self) -> int:
        return self.size - fixed_overhead(self.instruments)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The ticker of each instrument, stock locate 1 first."""
        return tuple(symbol(k) for k in range(1, self.instruments + 1))

    def chunks(self) -> Iterator[Chunk]:
        """The session in order: the start of day, the body a chunk at a time, the end."""
        symbols = np.array([b" " * 8] + [s.encode().ljust(8) for s in self.symbols],
                           dtype="S8")  # by stock locate; 0 (system messages) is blank
        generator = _BodyGenerator(self.instruments, self.body_size, self.seed)
        first = 0
        for columns in _chain_parts(_start_of_day(self.instruments, generator.rng), generator):
            data, starts = encode_binaryfile(columns, symbols)
            yield Chunk(first, columns, data, starts)
            first += len(columns)

    def messages(self) -> Iterator[bytes]:
        """Every message (no length prefix), in order."""
        for chunk in self.chunks():
            yield from chunk.messages()

    def columns(self) -> Columns:
        """The whole session as columns (for analysis and tests; holds it all in memory)."""
        return Columns.concatenate([chunk.columns for chunk in self.chunks()])

    def binaryfile_bytes(self) -> bytes:
        """The whole session as one BinaryFILE."""
        return b"".join(chunk.data.data for chunk in self.chunks())

    def write(self, path: str | os.PathLike[str], format: str | None = None,
              *, progress: Progress | None = None, mold_session: str = DEFAULT_MOLD_SESSION,
              source: tuple[str, int] = DEFAULT_SOURCE,
              destination: tuple[str, int] = DEFAULT_DESTINATION) -> SynthSummary:
        """Write the session to ``path``; the format from ``format`` or else the suffix.

        ``.pcap`` writes MoldUDP64 packets over UDP/IPv4/Ethernet from ``source``
        to ``destination``, ending with an end-of-session packet; any other name a
        BinaryFILE. The file appears complete or not at all (written beside it,
        then renamed). ``progress(done, total)`` is called after every chunk.
        """
        path = Path(path)
        kind = output_format(path, format)
        started = time.perf_counter()
        counts = np.zeros(256, np.int64)
        partial = path.with_name(path.name + ".partial")
        packets = 0
        try:
            with open(partial, "wb") as handle:
                sink: _Sink = (_MoldSink(handle, mold_session, source, destination)
                               if kind == "pcap" else _FileSink(handle))
                done = 0
                for chunk in self.chunks():
                    sink.add(chunk)
                    counts += np.bincount(chunk.columns.msg_type, minlength=256)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, self.size)
                packets = sink.close()
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return SynthSummary(path, kind, self.size, self.instruments, self.seed,
                            path.stat().st_size, packets,
                            {t: int(counts[ord(t)]) for t in SESSION_TYPES if counts[ord(t)]},
                            time.perf_counter() - started)


def _chain_parts(head: Columns, body: _BodyGenerator) -> Iterator[Columns]:
    yield head
    yield from body
    yield _end_of_day(body.rng)


def _system_events(codes: bytes, stamps: list[int], rng: np.random.Generator) -> Columns:
    columns = Columns.zeros(len(codes))
    columns.msg_type[:] = ord("S")
    columns.code[:] = np.frombuffer(codes, np.uint8)
    columns.timestamp[:] = stamps
    columns.tracking_number[:] = _tracking_numbers(rng, len(codes))
    return columns


def _tracking_numbers(rng: np.random.Generator, n: int) -> I64:
    return rng.integers(0, 8, n, dtype=np.int64)


def _start_of_day(instruments: int, rng: np.random.Generator) -> Columns:
    """S 'O', S 'S', R x K, H x K, S 'Q'."""
    opening = _system_events(b"OS", [START_OF_MESSAGES, START_OF_SYSTEM_HOURS], rng)
    directory = Columns.zeros(2 * instruments)
    locates = np.arange(1, instruments + 1, dtype=np.int64)
    directory.msg_type[:instruments] = ord("R")
    directory.msg_type[instruments:] = ord("H")
    directory.stock_locate[:] = np.concatenate([locates, locates])
    directory.timestamp[:] = (START_OF_SYSTEM_HOURS
                              + _DIRECTORY_SPACING * np.arange(1, 2 * instruments + 1))
    directory.tracking_number[:] = _tracking_numbers(rng, 2 * instruments)
    market = _system_events(b"Q", [START_OF_MARKET_HOURS], rng)
    return Columns.concatenate([opening, directory, market])


def _end_of_day(rng: np.random.Generator) -> Columns:
    return _system_events(b"MEC", [END_OF_MARKET_HOURS, END_OF_SYSTEM_HOURS,
                                   END_OF_MESSAGES], rng)


class _BodyGenerator:
    """The body, a chunk of columns at a time, carrying the book from chunk to chunk."""

    def __init__(self, instruments: int, size: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.size = size
        rng = self.rng
        # activity is skewed across instruments (Zipf-like), in a random order of locates
        weights = 1.0 / np.arange(1, instruments + 1) ** 0.9
        rng.shuffle(weights)
        self.instrument_cdf = np.cumsum(weights / weights.sum())
        # mids from $5 to $500, log-uniform, on the cent grid (kept in ticks)
        self.mids = np.round(np.exp(rng.uniform(np.log(500), np.log(50_000), instruments))
                             ).astype(np.int64)
        # each instrument's book holds at most `per` orders (the target it settles at)
        per = max(1, min(_LIVE_ORDERS_PER_INSTRUMENT * instruments, _MAX_LIVE_ORDERS)
                  // instruments)
        self.orders = np.zeros((_ORDER_FIELDS, per * instruments), np.int64)
        self.inst = np.zeros((_INST_FIELDS, instruments), np.int64)
        self.inst[_INST_BID] = _NO_BID
        self.inst[_INST_ASK] = _NO_ASK
        self.live_rows = np.zeros(per * instruments, np.int64)
        first_ref = int(rng.integers(1_000, 100_000))
        first_match = int(rng.integers(1_000, 100_000))
        self.state = np.array([0, first_ref, first_match], np.int64)
        self.last_stamp = START_OF_MARKET_HOURS

    def __iter__(self) -> Iterator[Columns]:
        for first in range(0, self.size, _CHUNK):
            yield self._chunk(first, min(_CHUNK, self.size - first))

    def _chunk(self, first: int, n: int) -> Columns:
        rng = self.rng
        draws = rng.random((_DRAWS, n))
        bits = rng.bit_generator.random_raw(n).view(np.int64)
        columns = Columns.zeros(n)
        _walk_book(draws, bits, _KIND_CDF, _KIND_TYPES, self.instrument_cdf,
                   self.mids, self.orders, self.inst, self.live_rows, self.state,
                   columns.msg_type, columns.stock_locate, columns.tracking_number,
                   columns.order_ref, columns.new_order_ref, columns.side, columns.shares,
                   columns.price, columns.match_number)
        columns.timestamp[:] = self._timestamps(rng, first, n)
        self._details(rng, columns)
        return columns

    def _timestamps(self, rng: np.random.Generator, first: int, n: int) -> I64:
        """Bursty arrivals across the market hours, denser at the open and the close.

        Squared exponential gaps make bursts; the chunk fills its share of the
        session's message positions, which a monotone warp then maps to time.
        """
        gaps = rng.exponential(1.0, n) ** 2
        position = first + np.cumsum(gaps) * (n / gaps.sum())
        u = np.minimum(position / self.size, 1.0)
        warped = u - _DENSITY_SWING * np.sin(2 * np.pi * u) / (2 * np.pi)
        span = END_OF_MARKET_HOURS - START_OF_MARKET_HOURS
        stamps = START_OF_MARKET_HOURS + (warped * span).astype(np.int64)
        # rounding must never step back, within or across chunks
        stamps = np.maximum.accumulate(np.maximum(stamps, self.last_stamp))
        self.last_stamp = int(stamps[-1])
        return stamps

    @staticmethod
    def _details(rng: np.random.Generator, columns: Columns) -> None:
        """Fields the book does not decide: printable, cross types, imbalances, MPIDs."""
        rows = np.flatnonzero(columns.msg_type == ord("C"))
        columns.code[rows] = np.where(rng.random(len(rows)) < 0.95, ord("Y"), ord("N"))
        rows = np.flatnonzero(columns.msg_type == ord("Q"))
        columns.code[rows] = rng.choice(_CROSS_TYPES, len(rows))
        rows = np.flatnonzero(columns.msg_type == ord("F"))
        columns.attribution[rows] = rng.integers(0, len(MPIDS), len(rows))
        rows = np.flatnonzero(columns.msg_type == ord("I"))
        n = len(rows)
        columns.code[rows] = rng.choice(_NOII_CROSS_TYPES, n)
        direction = rng.choice(_NOII_DIRECTIONS, n)
        columns.side[rows] = direction
        imbalance = columns.shares[rows] // 10 * rng.integers(1, 6, n)
        columns.imbalance_shares[rows] = np.where(direction == ord("N"), 0, imbalance)
        reference = columns.price[rows]
        columns.far_price[rows] = np.maximum(reference + rng.integers(-20, 21, n) * TICK, TICK)
        columns.near_price[rows] = np.maximum(reference + rng.integers(-5, 6, n) * TICK, TICK)
        columns.price_variation[rows] = rng.choice(_PRICE_VARIATIONS, n)


# --- writers ---------------------------------------------------------------------------


def output_format(path: str | os.PathLike[str], format: str | None = None
                  ) -> SynthFormat:
    """``format`` if given ('binaryfile', 'itch', 'bin' or 'pcap'), else from the suffix."""
    if format is not None:
        name = format.lower()
        if name in ("binaryfile", "itch", "bin"):
            return "binaryfile"
        if name == "pcap":
            return "pcap"
        raise ValueError(f"unknown output format {format!r}: use binaryfile or pcap")
    suffix = Path(path).suffix.lower()
    if suffix == ".pcapng":
        raise ValueError(f"{path}: pcapng is not written; name the file .pcap for a pcap")
    return "pcap" if suffix == ".pcap" else "binaryfile"


class _Sink:
    def add(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def close(self) -> int:
        """Finish the file; returns the number of packets written."""
        raise NotImplementedError


class _FileSink(_Sink):
    def __init__(self, handle: BinaryIO):
        self._handle = handle

    def add(self, chunk: Chunk) -> None:
        self._handle.write(chunk.data.data)

    def close(self) -> int:
        return 0


@numba.njit(cache=True, nogil=True)
def _packet_ends(blocks, max_payload, max_messages):  # type: ignore[no-untyped-def]
    """End (exclusive message index) of each packet, filled greedily as packetize does."""
    ends = np.empty(blocks.shape[0], np.int64)
    n = 0
    size = 20  # MoldUDP64 header
    count = 0
    for i in range(blocks.shape[0]):
        if count > 0 and (size + blocks[i] > max_payload or count >= max_messages):
            ends[n] = i
            n += 1
            size = 20
            count = 0
        size += blocks[i]
        count += 1
    if count > 0:
        ends[n] = blocks.shape[0]
        n += 1
    return ends[:n]


class _MoldSink(_Sink):
    """MoldUDP64 downstream packets, as :func:`moldudp64.packetize` would cut them.

    A packet's blocks are a slice of the chunk's BinaryFILE bytes, so the
    payload is the 20-byte header plus that slice. The last packet of a chunk
    may still grow: it waits for the next chunk. A frame is stamped with its
    last message's time, and at least a microsecond after the frame before.
    """

    _MIN_FRAME_GAP = 1_000  # ns

    def __init__(self, handle: BinaryIO, session: str, source: tuple[str, int],
                 destination: tuple[str, int]):
        if moldudp64.HEADER.field("session").width < len(session):
            raise ValueError(f"MoldUDP64 session {session!r} is longer than 10 characters")
        self._writer = PcapWriter(handle)
        self._session = session
        self._source = source
        self._destination = destination
        self._sequence = 1
        self._last_frame = -1
        self.packets = 0
        self._data = b""
        self._blocks = np.zeros(0, np.int64)
        self._stamps = np.zeros(0, np.int64)

    def add(self, chunk: Chunk) -> None:
        lengths = _LENGTHS[chunk.columns.msg_type]
        self._data = b"".join((self._data, chunk.data.data))
        self._blocks = np.concatenate([self._blocks, lengths + 2])
        self._stamps = np.concatenate([self._stamps, chunk.columns.timestamp])
        self._flush(keep_last=True)

    def close(self) -> int:
        self._flush(keep_last=False)
        end = moldudp64.Packet(self._session, self._sequence, end_of_session=True)
        self._send(end.encode(), self._last_frame)
        return self.packets

    def _flush(self, keep_last: bool) -> None:
        ends = _packet_ends(self._blocks, MAX_PAYLOAD, moldudp64.MAX_MESSAGES)
        if keep_last:
            ends = ends[:-1]
        if not len(ends):
            return
        offsets = np.concatenate([[0], np.cumsum(self._blocks)])
        first = 0
        header = moldudp64.HEADER
        for end in ends.tolist():
            payload = header.pack({"session": self._session, "sequence_number": self._sequence,
                                   "message_count": end - first})
            self._send(payload + self._data[offsets[first]:offsets[end]],
                       int(self._stamps[end - 1]))
            self._sequence += end - first
            first = end
        self._data = self._data[offsets[first]:]
        self._blocks = self._blocks[first:]
        self._stamps = self._stamps[first:]

    def _send(self, payload: bytes, stamp: int) -> None:
        stamp = max(stamp, self._last_frame + self._MIN_FRAME_GAP)
        self._last_frame = stamp
        self._writer.write(payload, self._source, self._destination,
                           _MIDNIGHT_EPOCH + stamp / _NS)
        self.packets += 1


# --- the entry points ---------------------------------------------------------------------


def generate_session(messages: int, instruments: int, seed: int) -> Session:
    """A synthetic session of exactly ``messages`` messages over ``instruments`` stocks.

    Raises ValueError when ``messages`` is below :func:`fixed_overhead`,
    ``instruments`` is outside 1..65535 or ``seed`` is negative.
    """
    return Session(messages, instruments, seed)


def write_synthetic(path: str | os.PathLike[str], messages: int, instruments: int, seed: int,
                    fmt: str | None = None, *, progress: Progress | None = None
                    ) -> SynthSummary:
    """Generate a session and write it: ``nanogate feed synth`` calls this.

    ``fmt`` is 'binaryfile' or 'pcap' ('itch' and 'bin' mean binaryfile); left
    out, ``.pcap`` means pcap (MoldUDP64 over UDP to 239.1.1.1:5001) and any
    other suffix a BinaryFILE. ``progress(done, total)`` is called as chunks
    are written. Raises ValueError for bad arguments, OSError when the file
    cannot be written.
    """
    kind = output_format(path, fmt)  # a bad name fails before any work
    return generate_session(messages, instruments, seed).write(path, kind, progress=progress)
