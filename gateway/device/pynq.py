"""The ``pynq`` device backend: a Kria KV260 / KR260 running the nanogate overlay.

The overlay (``hw/platforms/kria``) holds two IPs, each with its AXI DMAs:

* the feed parser (``nanogate_feed_0``, registers :data:`~nanogate.proto.feed_regs.FEED_REGS`
  on AXI4-Lite) and ``axi_dma_feed``: MM2S carries one MoldUDP64 payload per transfer into
  the parser, S2MM brings one BookEvent per transfer (each record ends with TLAST), 64
  bytes, the record's bits first field at bit 0, through an AXI-Stream FIFO of
  :data:`RECORD_FIFO` records. :meth:`PynqFeedParser.push` sends at most
  :data:`PACKETS_PER_BATCH` packets before draining, so the FIFO never fills.
* the risk pipeline (``nanogate_risk_0``, registers :data:`~nanogate.proto.risk.RISK_REGMAP`
  at the offsets the AXI-Lite bank has everywhere), ``axi_dma_risk`` (MM2S: Orders, one
  per :data:`ORDER_BEAT_BYTES`-byte beat; S2MM: Decisions, one per
  :data:`DECISION_BEAT_BYTES`-byte beat, each beat its own transfer since the IP sets
  TLAST on every one, through a :data:`DECISION_FIFO`-decision FIFO) and
  ``axi_dma_update`` (MM2S only: RiskUpdates, one per 256-bit beat). A record sits in
  the low bits of its beat, first field at bit 0, the beat little-endian: packed and
  unpacked from its :class:`~nanogate.proto.records.RecordLayout`, nothing else.
  :meth:`PynqRiskEngine.submit` sends at most :data:`ORDERS_PER_BATCH` orders, waits for
  the ``orders`` counter to count them, then receives their decisions;
  :meth:`PynqRiskEngine.apply_updates` waits for ``fills + cancels + updates_dropped``
  to count the updates, so orders and updates, on two DMAs, are taken in call order.

Everything goes through a :class:`Board`: :class:`LiveBoard` (``pynq.Overlay``,
MMIO, DMA; ``pynq`` imported only here, it pins numpy < 2), :class:`RecordingBoard`
(writes every register and DMA operation to a JSON-lines transcript),
:class:`ReplayBoard` (answers from a transcript, and fails at the first operation
that differs: what CI runs), and :class:`ModelBoard` (the software golden models,
feed and risk, standing in for a board, used to synthesise a transcript when no board
is at hand).

``python -m nanogate.gateway.device.pynq record [--scenario feed|risk] -o FILE
(--bitstream X.bit | --stand-in software)`` runs :func:`scenario` (feed) or
:func:`scenario_risk` and records it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nanogate.gateway.device import DeviceError, FeedParser, RegisterAccess, RiskEngine
from nanogate.gateway.device.aws import beats_to_records, records_to_beats
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, FILTER_PASS_BIT
from nanogate.proto.itch import MESSAGES
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE, RecordLayout
from nanogate.proto.regmap import WORD_BYTES, RegisterMap
from nanogate.proto.risk import (
    ACCOUNT_FIELDS,
    DECISION,
    DECISION_DTYPE,
    INSTRUMENT_FIELDS,
    ORDER,
    ORDER_DTYPE,
    RISK_REGMAP,
    UPDATE,
    UPDATE_DTYPE,
    AccountFlags,
    InstrumentFlags,
    Side,
    UpdateKind,
    entry_writes,
)
from nanogate.proto.risk import COUNTERS as RISK_COUNTERS

FEED_IP = "nanogate_feed_0"
FEED_DMA = "axi_dma_feed"
RECORD_BYTES = 64
RECORD_FIFO = 4096
#: A MoldUDP64 payload of 1500 bytes carries at most 500 messages of 3 bytes (2 + type):
#: eight such packets fit the record FIFO.
PACKETS_PER_BATCH = 8

RISK_IP = "nanogate_risk_0"
RISK_DMA = "axi_dma_risk"  # MM2S orders in, S2MM decisions back
UPDATE_DMA = "axi_dma_update"  # MM2S only: fills and cancels
#: Beat widths of the risk IP's streams (``hw/platforms/kria.py``: ORDER_BEAT_BITS,
#: DECISION_BEAT_BITS; gateway may not import hw, tests hold the two equal).
ORDER_BEAT_BYTES = 32  # an Order (240 bits) or a RiskUpdate (176 bits) per beat
DECISION_BEAT_BYTES = 16  # a Decision (128 bits) per beat, TLAST on each
DECISION_FIFO = 4096
#: Orders sent before their decisions are received: well inside the decision FIFO, so
#: the pipeline never holds the MM2S transfer back while nothing drains the S2MM side.
ORDERS_PER_BATCH = 1024
TRANSCRIPT_VERSION = 1

#: What each part needs in the overlay's ``ip_dict``.
FEED_PARTS = (FEED_IP, FEED_DMA)
RISK_PARTS = (RISK_IP, RISK_DMA, UPDATE_DMA)

for _layout, _beat in ((ORDER, ORDER_BEAT_BYTES), (UPDATE, ORDER_BEAT_BYTES),
                       (DECISION, DECISION_BEAT_BYTES)):
    if _layout.bits > 8 * _beat:  # pragma: no cover - a layout change, caught at import
        raise ImportError(f"{_layout.name} ({_layout.bits} bits) outgrew its "
                          f"{_beat}-byte DMA beat")


class Board(Protocol):
    def read(self, ip: str, offset: int) -> int: ...

    def write(self, ip: str, offset: int, value: int) -> None: ...

    def send(self, dma: str, data: bytes) -> None: ...

    def recv(self, dma: str, nbytes: int) -> bytes: ...


class LiveBoard:
    """A board with the overlay loaded: ``pynq.Overlay(bitstream)``, which must hold the
    IPs named in ``needs`` (the feed parser's by default)."""

    def __init__(self, bitstream: str, needs: Iterable[str] = FEED_PARTS) -> None:
        try:
            import pynq
        except ImportError as error:
            raise DeviceError("the pynq backend on a board needs the pynq package "
                              f"(on the board: pip install 'nanogate[pynq]'; {error})") from None
        self._pynq = pynq
        try:
            self.overlay = pynq.Overlay(bitstream)
        except Exception as error:  # pynq raises OSError, ValueError, RuntimeError, ...
            raise DeviceError(f"{bitstream}: pynq.Overlay cannot load it: "
                              f"{type(error).__name__}: {error}") from None
        missing = set(needs) - set(self.overlay.ip_dict)
        if missing:
            raise DeviceError(f"{bitstream}: overlay has no {', '.join(sorted(missing))} "
                              f"(has {', '.join(sorted(self.overlay.ip_dict))})")
        self._recv_buffers: dict[tuple[str, int], Any] = {}

    def read(self, ip: str, offset: int) -> int:
        return int(getattr(self.overlay, ip).mmio.read(offset))

    def write(self, ip: str, offset: int, value: int) -> None:
        getattr(self.overlay, ip).mmio.write(offset, value)

    def send(self, dma: str, data: bytes) -> None:
        buffer = self._pynq.allocate(shape=(len(data),), dtype=np.uint8)
        try:
            buffer[:] = np.frombuffer(data, dtype=np.uint8)
            channel = getattr(self.overlay, dma).sendchannel
            channel.transfer(buffer)
            channel.wait()
        except RuntimeError as error:  # pynq's DMA errors (internal, slave, decode)
            raise DeviceError(f"{dma}: MM2S transfer of {len(data)} bytes: {error}") from None
        finally:
            buffer.freebuffer()

    def recv(self, dma: str, nbytes: int) -> bytes:
        """One S2MM transfer into an ``nbytes`` buffer: what the DMA wrote, which ends
        at the stream's TLAST (the channel's ``transferred`` count, where pynq has it)."""
        buffer = self._recv_buffers.get((dma, nbytes))
        if buffer is None:  # kept: the transfers of one DMA are all of one size
            buffer = self._pynq.allocate(shape=(nbytes,), dtype=np.uint8)
            self._recv_buffers[dma, nbytes] = buffer
        channel = getattr(self.overlay, dma).recvchannel
        try:
            channel.transfer(buffer)
            channel.wait()
        except RuntimeError as error:
            raise DeviceError(f"{dma}: S2MM transfer into {nbytes} bytes: {error}") from None
        got = int(getattr(channel, "transferred", nbytes))
        return bytes(buffer[:got])

    def close(self) -> None:
        for buffer in self._recv_buffers.values():
            buffer.freebuffer()
        self._recv_buffers.clear()


class ModelBoard:
    """The software golden models answering as the overlay would (no board needed): the
    feed parser behind ``nanogate_feed_0`` / ``axi_dma_feed``, the risk pipeline behind
    ``nanogate_risk_0`` / ``axi_dma_risk`` / ``axi_dma_update``."""

    def __init__(self) -> None:
        from nanogate.gateway.device.software_feed import SoftwareFeedParser
        from nanogate.gateway.device.software_risk import SoftwareRiskEngine

        self.model = SoftwareFeedParser()
        self.risk = SoftwareRiskEngine()  # the overlay's table sizes (RiskTop's defaults)
        self._banks: dict[str, tuple[RegisterMap, RegisterAccess]] = {
            FEED_IP: (FEED_REGS, self.model), RISK_IP: (RISK_REGMAP, self.risk)}
        self._out: dict[str, deque[bytes]] = {FEED_DMA: deque(), RISK_DMA: deque()}
        self._latched: dict[tuple[str, str], int] = {}
        self._staged: dict[tuple[str, str], int] = {}

    def _register(self, ip: str, offset: int) -> tuple[RegisterMap, RegisterAccess, str, int]:
        if ip not in self._banks:
            raise DeviceError(f"no IP {ip!r} in the model overlay")
        regmap, bank = self._banks[ip]
        for register in regmap.registers:
            base = regmap.offset(register.name)
            if base <= offset < base + register.words * WORD_BYTES:
                return regmap, bank, register.name, (offset - base) // WORD_BYTES
        raise DeviceError(f"{ip}: no register at {offset:#x}")

    def read(self, ip: str, offset: int) -> int:
        _, bank, name, word = self._register(ip, offset)
        if word == 0:  # the low word latches the high words
            self._latched[ip, name] = bank.read_register(name)
            return self._latched[ip, name] & 0xFFFFFFFF
        return self._latched.get((ip, name), 0) >> (32 * word) & 0xFFFFFFFF

    def write(self, ip: str, offset: int, value: int) -> None:
        regmap, bank, name, word = self._register(ip, offset)
        register = regmap.register(name)
        staged = self._staged.get((ip, name), 0) & ~(0xFFFFFFFF << (32 * word))
        self._staged[ip, name] = staged | (value & 0xFFFFFFFF) << (32 * word)
        if word == register.words - 1:  # the last word's write is the strobe
            bank.write_register(name, self._staged[ip, name] & ((1 << register.width) - 1))

    @staticmethod
    def _records(dma: str, layout: RecordLayout, dtype: np.dtype, data: bytes,
                 beat: int) -> np.ndarray:
        if not data or len(data) % beat:
            raise DeviceError(f"{dma}: an MM2S transfer of {len(data)} bytes is not whole "
                              f"{beat}-byte {layout.name} beats")
        return beats_to_records(layout, dtype, data, beat)

    def send(self, dma: str, data: bytes) -> None:
        if dma == FEED_DMA:
            records = self.model.push([data])
            for row in records:
                self._out[dma].append(records_to_beats(BOOK_EVENT, np.array([row]),
                                                       RECORD_BYTES))
        elif dma == RISK_DMA:
            orders = self._records(dma, ORDER, ORDER_DTYPE, data, ORDER_BEAT_BYTES)
            for row in self.risk.submit(orders):  # TLAST on every decision: one transfer each
                self._out[dma].append(records_to_beats(DECISION, np.array([row]),
                                                       DECISION_BEAT_BYTES))
        elif dma == UPDATE_DMA:
            self.risk.apply_updates(self._records(dma, UPDATE, UPDATE_DTYPE, data,
                                                  ORDER_BEAT_BYTES))
        else:
            raise DeviceError(f"no DMA {dma!r} in the model overlay")

    def recv(self, dma: str, nbytes: int) -> bytes:
        if dma not in self._out:
            raise DeviceError(f"no S2MM channel {dma!r} in the model overlay")
        if not self._out[dma]:
            raise DeviceError(f"{dma}: receive of {nbytes} bytes with no record waiting")
        if len(self._out[dma][0]) > nbytes:
            raise DeviceError(f"{dma}: a {len(self._out[dma][0])}-byte transfer does not fit "
                              f"a {nbytes}-byte buffer")
        return self._out[dma].popleft()
def _op(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)


class RecordingBoard:
    """Passes every operation to ``inner`` and writes it to a JSON-lines transcript."""

    def __init__(self, inner: Board, path: Path, source: str) -> None:
        self.inner = inner
        self._file = path.open("w", encoding="utf-8")
        self._file.write(_op({"transcript": "nanogate pynq", "version": TRANSCRIPT_VERSION,
                              "source": source}) + "\n")

    def _log(self, **record: Any) -> None:
        self._file.write(_op(record) + "\n")

    def read(self, ip: str, offset: int) -> int:
        value = self.inner.read(ip, offset)
        self._log(op="read", ip=ip, offset=offset, value=value)
        return value

    def write(self, ip: str, offset: int, value: int) -> None:
        self.inner.write(ip, offset, value)
        self._log(op="write", ip=ip, offset=offset, value=value)

    def send(self, dma: str, data: bytes) -> None:
        self.inner.send(dma, data)
        self._log(op="send", dma=dma, data=data.hex())

    def recv(self, dma: str, nbytes: int) -> bytes:
        data = self.inner.recv(dma, nbytes)
        self._log(op="recv", dma=dma, nbytes=nbytes, data=data.hex())
        return data

    def close(self) -> None:
        self._file.close()


class ReplayBoard:
    """Answers from a transcript; any operation other than the recorded one is an error."""

    def __init__(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise DeviceError(f"cannot read transcript {path}: {error.strerror}") from None
        self.path = path
        try:
            header = json.loads(lines[0]) if lines else {}
            self._ops = [json.loads(line) for line in lines[1:] if line.strip()]
        except json.JSONDecodeError as error:
            raise DeviceError(f"{path}: not a JSON-lines transcript ({error})") from None
        if header.get("transcript") != "nanogate pynq" \
                or header.get("version") != TRANSCRIPT_VERSION:
            raise DeviceError(f"{path}: not a nanogate pynq transcript, version "
                              f"{TRANSCRIPT_VERSION}")
        self.source = str(header.get("source", ""))
        self._next = 0

    def _take(self, **expected: Any) -> dict[str, Any]:
        line = self._next + 2
        if self._next >= len(self._ops):
            raise DeviceError(f"{self.path}: transcript ended; the backend asked for "
                              f"{_op(expected)}")
        recorded: dict[str, Any] = self._ops[self._next]
        mismatch = {k: v for k, v in expected.items() if recorded.get(k) != v}
        if mismatch:
            raise DeviceError(f"{self.path}:{line}: the backend diverges from the transcript: "
                              f"recorded {_op(recorded)}, asked {_op(expected)}")
        self._next += 1
        return recorded

    def read(self, ip: str, offset: int) -> int:
        return int(self._take(op="read", ip=ip, offset=offset)["value"])

    def write(self, ip: str, offset: int, value: int) -> None:
        self._take(op="write", ip=ip, offset=offset, value=value)

    def send(self, dma: str, data: bytes) -> None:
        self._take(op="send", dma=dma, data=data.hex())

    def recv(self, dma: str, nbytes: int) -> bytes:
        return bytes.fromhex(self._take(op="recv", dma=dma, nbytes=nbytes)["data"])

    @property
    def finished(self) -> bool:
        return self._next == len(self._ops)


_BOARD_OPTIONS = ("bitstream", "replay", "board")


def _open_board(options: dict[str, Any], needs: Iterable[str]) -> Board:
    unknown = set(options) - {*_BOARD_OPTIONS, "timeout_s"}
    if unknown or sum(name in options for name in _BOARD_OPTIONS) != 1:
        raise DeviceError("the pynq backend takes one of bitstream=X.bit, "
                          "replay=TRANSCRIPT or board=BOARD (and optionally timeout_s=S)")
    if "board" in options:
        board: Board = options["board"]
        return board
    if "replay" in options:
        return ReplayBoard(Path(options["replay"]))
    return LiveBoard(str(options["bitstream"]), needs)


class _PynqPart:
    """Registers of one IP in the overlay, by name, through MMIO at the map's offsets."""

    _ip: str
    _regmap: RegisterMap
    _needs: tuple[str, ...]

    def __init__(self, **options: Any) -> None:
        try:
            self.timeout_s = float(options.get("timeout_s", 1.0))
        except (TypeError, ValueError):
            raise DeviceError(f"timeout_s={options['timeout_s']!r}: expected seconds") \
                from None
        self.board = _open_board(options, self._needs)

    @property
    def regmap(self) -> RegisterMap:
        return self._regmap

    def read_register(self, name: str) -> int:
        register = self._regmap.register(name)
        base = self._regmap.offset(name)
        # low word first: on the bank, reading it latches the high words
        return sum(self.board.read(self._ip, base + WORD_BYTES * word) << (32 * word)
                   for word in range(register.words))

    def write_register(self, name: str, value: int) -> None:
        register = self._regmap.register(name)
        if not register.writable:
            raise DeviceError(f"register {name!r} is read-only")
        if not 0 <= value < 1 << register.width:
            raise DeviceError(f"{name}: {value} does not fit {register.width} bits")
        base = self._regmap.offset(name)
        for word in range(register.words):  # the last word's write is the strobe
            self.board.write(self._ip, base + WORD_BYTES * word,
                             value >> (32 * word) & 0xFFFFFFFF)


class PynqFeedParser(_PynqPart):
    """The feed parser in the overlay. Options: ``bitstream`` (a board), ``replay``
    (a transcript path), or ``board`` (any :class:`Board`)."""

    _ip = FEED_IP
    _regmap = FEED_REGS
    _needs = FEED_PARTS

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        parts = []
        for start in range(0, len(payloads), PACKETS_PER_BATCH):
            before = self.read_register("records")
            for payload in payloads[start:start + PACKETS_PER_BATCH]:
                if not payload:
                    raise DeviceError("an empty payload cannot be sent by DMA")
                self.board.send(FEED_DMA, payload)
            waiting = (self.read_register("records") - before) & 0xFFFFFFFF
            data = b"".join(self.board.recv(FEED_DMA, RECORD_BYTES) for _ in range(waiting))
            parts.append(beats_to_records(BOOK_EVENT, BOOK_EVENT_DTYPE, data, RECORD_BYTES))
        if not parts:
            return np.zeros(0, dtype=BOOK_EVENT_DTYPE)
        return np.concatenate(parts)

    def counters(self) -> dict[str, int]:
        return {name: self.read_register(name) for name in COUNTER_NAMES}


def _beats(layout: RecordLayout, records: np.ndarray, beat: int) -> bytes:
    """Records as DMA beats, from their layout (a record's fields must all be there)."""
    names = records.dtype.names or ()
    missing = [name for name in layout.names if name not in names]
    if missing:
        raise DeviceError(f"expected {layout.name} records; the array has no "
                          f"{', '.join(missing)}")
    return records_to_beats(layout, records, beat)


class PynqRiskEngine(_PynqPart):
    """The risk pipeline in the overlay. Options: ``bitstream`` (a board), ``replay``
    (a transcript path), or ``board`` (any :class:`Board`); ``timeout_s`` bounds the
    wait for a counter to count what was sent (default 1 s)."""

    _ip = RISK_IP
    _regmap = RISK_REGMAP
    _needs = RISK_PARTS

    _UPDATE_COUNTERS = ("fills", "cancels", "updates_dropped")

    def _wait_count(self, names: tuple[str, ...], target: int, what: str) -> None:
        """Read ``names`` (summed, 32-bit wrapping) until they reach ``target``."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            value = sum(self.read_register(name) for name in names) & 0xFFFFFFFF
            if value == target & 0xFFFFFFFF:
                return
            if time.monotonic() > deadline:
                raise DeviceError(f"{self._ip}: {what} not all taken within "
                                  f"{self.timeout_s:g} s ({' + '.join(names)} reads {value}, "
                                  f"expected {target & 0xFFFFFFFF})")
            time.sleep(0.0001)

    def submit(self, orders: np.ndarray) -> np.ndarray:
        out: list[np.ndarray] = []
        for start in range(0, len(orders), ORDERS_PER_BATCH):
            group = orders[start:start + ORDERS_PER_BATCH]
            data = _beats(ORDER, group, ORDER_BEAT_BYTES)
            before = self.read_register("orders")
            self.board.send(RISK_DMA, data)
            self._wait_count(("orders",), before + len(group), f"{len(group)} orders")
            beats = []
            for index in range(len(group)):  # TLAST on every decision: one transfer each
                beat = self.board.recv(RISK_DMA, DECISION_BEAT_BYTES)
                if len(beat) != DECISION_BEAT_BYTES:
                    raise DeviceError(
                        f"{RISK_DMA}: S2MM returned {len(beat)} bytes for decision "
                        f"{start + index + 1} of {len(orders)}; expected one "
                        f"{DECISION_BEAT_BYTES}-byte Decision beat "
                        f"({DECISION.bits} bits, TLAST on each)")
                beats.append(beat)
            decisions = beats_to_records(DECISION, DECISION_DTYPE, b"".join(beats),
                                         DECISION_BEAT_BYTES)
            wrong = np.flatnonzero(decisions["client_order_id"] != group["client_order_id"])
            if len(wrong):
                k = int(wrong[0])
                raise DeviceError(
                    f"{RISK_DMA}: decision {start + k + 1} is for client order id "
                    f"{int(decisions['client_order_id'][k])}, expected "
                    f"{int(group['client_order_id'][k])}: the decision stream is out of "
                    f"step with the orders (a stale decision in the decision FIFO?)")
            out.append(decisions)
        return np.concatenate(out) if out else np.zeros(0, dtype=DECISION_DTYPE)

    def apply_updates(self, updates: np.ndarray) -> None:
        for start in range(0, len(updates), ORDERS_PER_BATCH):
            group = updates[start:start + ORDERS_PER_BATCH]
            data = _beats(UPDATE, group, ORDER_BEAT_BYTES)
            before = sum(self.read_register(name) for name in self._UPDATE_COUNTERS)
            self.board.send(UPDATE_DMA, data)
            self._wait_count(self._UPDATE_COUNTERS, before + len(group),
                             f"{len(group)} updates")

    def counters(self) -> dict[str, int]:
        return {name: self.read_register(name) for name in RISK_COUNTERS}


# --- the recorded scenarios -----------------------------------------------------------

def scenario_payloads(seed: int = 2026) -> list[bytes]:
    """Deterministic MoldUDP64 payloads: every ITCH type, a gap, a duplicate, faults."""
    rng = random.Random(seed)
    messages = [bytes([ord(t)]) + rng.randbytes(spec.length - 1)
                for t in MESSAGES for spec in [MESSAGES[t]]]
    messages += [bytes([ord("A")]) + rng.randbytes(MESSAGES["A"].length - 1) for _ in range(20)]
    packets = [p.encode() for p in moldudp64.packetize("NGREC00001", messages, max_payload=400)]
    tail = moldudp64.packetize("NGREC00001", messages[:3], first_sequence=len(messages) + 5)
    packets += [p.encode() for p in tail]  # a gap of 4
    packets.append(packets[0])  # duplicates
    packets.append(packets[1][:-5])  # truncated
    packets.append(moldudp64.encode_packet("NGREC00001", 1000, [b"\x01" + b"x" * 10]))
    packets.append(b"short")
    return packets


def scenario(parser: FeedParser) -> dict[str, Any]:
    """What the record command runs and the replay test repeats: records and counters."""
    payloads = scenario_payloads()
    first = parser.push(payloads[:5])
    for locate in (1, 2, 3, 700):
        parser.write_register("filter_write", 1 << FILTER_PASS_BIT | locate)
    parser.write_register("filter_enable", 1)
    second = parser.push(payloads[5:])
    parser.write_register("filter_enable", 0)
    return {"records": np.concatenate([first, second]), "counters": parser.counters(),
            "filter_enable": parser.read_register("filter_enable")}


#: $150.0000 in price(4): the reference price of the scenario's instruments.
_REF = 1_500_000
_INSTRUMENT = {"reference_price": _REF, "collar_bps": 500, "max_qty": 10_000,
               "max_notional": 20_000_000_000, "max_long": 50_000, "max_short": 50_000,
               "restricted": False, "halted": False}
_ACCOUNT = {"credit_limit": 10**15, "rate_per_s": 1000, "burst": 50, "halted": False,
            "reduce_only": False}
#: stock_locate -> what differs from _INSTRUMENT; account -> what differs from _ACCOUNT.
_RISK_INSTRUMENTS: dict[int, dict[str, int | bool]] = {
    1: {},
    2: {"max_notional": 1_000 * _REF, "max_long": 100, "max_short": 50},  # tight
    4: {"restricted": True},
    5: {"halted": True},
    8191: {"max_notional": (1 << 64) - 1},  # the last entry; a 64-bit limit, both words
}
_RISK_ACCOUNTS: dict[int, dict[str, int | bool]] = {
    7: {},
    3: {"credit_limit": 1_000 * _REF},  # credit for 1,000 shares at the reference
    4: {"burst": 2},  # two orders at once, then one per millisecond
    5: {"halted": True},
    6: {"reduce_only": True},
    1023: {"credit_limit": (1 << 64) - 1, "rate_per_s": (1 << 24) - 1},
}
_SECOND = 1_000_000_000


def _risk_limits(risk: RiskEngine, locate: int, account: int,
                 instrument: dict[str, int | bool] | None = None,
                 acct: dict[str, int | bool] | None = None) -> None:
    """Stage and commit one instrument and/or one account entry (``None``: leave it)."""
    for prefix, fields, base, changes, listed, index in (
            ("inst", INSTRUMENT_FIELDS, _INSTRUMENT, instrument, InstrumentFlags.LISTED, locate),
            ("acct", ACCOUNT_FIELDS, _ACCOUNT, acct, AccountFlags.LISTED, account)):
        if changes is None:
            continue
        for name, value in entry_writes(fields, {**base, **changes}, listed):
            risk.write_register(name, int(value))
        risk.write_register(f"{prefix}_commit", index)


def _orders(rows: Sequence[tuple[int, int, int, int, int, int, int]]) -> np.ndarray:
    """(client_order_id, account, stock_locate, side, quantity, price, timestamp_ns)."""
    return np.array([(coid, account, locate, side, 0, quantity, price, ts)
                     for coid, account, locate, side, quantity, price, ts in rows],
                    dtype=ORDER_DTYPE)


def _updates(rows: Sequence[tuple[int, int, int, int, int, int, int]]) -> np.ndarray:
    """(client_order_id, account, stock_locate, side, kind, quantity, price)."""
    return np.array(rows, dtype=UPDATE_DTYPE)


def scenario_risk(risk: RiskEngine) -> dict[str, Any]:
    """What ``record --scenario risk`` runs and the replay test repeats: limits written,
    orders that hit every reject reason (and pass at each limit), fills, cancels,
    dropped updates, the kill switch and instrument / account halts; returns the
    decisions, the counters and registers read back."""
    buy, sell, short = int(Side.BUY), int(Side.SELL), int(Side.SELL_SHORT)
    fill, cancel = int(UpdateKind.FILL), int(UpdateKind.CANCEL)
    risk.write_register("state_clear", 1)
    risk.write_register("kill_switch", 0)
    for locate, changes in _RISK_INSTRUMENTS.items():
        _risk_limits(risk, locate, 0, instrument=changes)
    for account, changes in _RISK_ACCOUNTS.items():
        _risk_limits(risk, 0, account, acct=changes)
    registers = {name: risk.read_register(name)
                 for name in ("table_sizes", "inst_max_notional", "acct_credit_limit",
                              "acct_rate_per_s", "inst_flags", "acct_flags", "status")}
    decisions = [risk.submit(_orders([
        (1, 7, 1, buy, 100, _REF, _SECOND),  # accepted
        (2, 7, 1, buy, 10_001, _REF, _SECOND),  # max_qty
        (3, 7, 1, buy, 10_000, _REF, _SECOND),  # max_qty met exactly: accepted
        (4, 7, 2, buy, 1_001, _REF, _SECOND),  # max_notional (and position)
        (5, 7, 1, buy, 10, _REF * 106 // 100, _SECOND),  # price_collar (6 % off)
        (6, 7, 1, sell, 10, _REF * 95 // 100, _SECOND),  # collar met exactly: accepted
        (7, 3, 1, buy, 1_001, _REF, _SECOND),  # credit
        (8, 7, 2, buy, 101, _REF, _SECOND),  # position (max_long 100)
        (9, 7, 2, short, 51, _REF, _SECOND),  # position (max_short 50)
        (10, 4, 1, buy, 1, _REF, _SECOND),
        (11, 4, 1, buy, 1, _REF, _SECOND),
        (12, 4, 1, buy, 1, _REF, _SECOND),  # rate: a burst of 2
        (13, 4, 1, buy, 1, _REF, _SECOND + 1_000_000),  # a millisecond on: a token back
        (14, 7, 4, buy, 1, _REF, _SECOND),  # restricted
        (15, 7, 9, buy, 1, _REF, _SECOND),  # restricted: unlisted locate
        (16, 7, 9000, buy, 1, _REF, _SECOND),  # restricted: outside the table
        (1, 7, 1, buy, 1, _REF, _SECOND),  # duplicate_id
        (17, 7, 5, buy, 1, _REF, _SECOND),  # halted: instrument
        (18, 5, 1, buy, 1, _REF, _SECOND),  # halted: account
        (19, 9, 1, buy, 1, _REF, _SECOND),  # halted: unlisted account
        (20, 6, 1, buy, 1, _REF, _SECOND),  # reduce_only: a buy from flat
        (21, 6, 1, short, 1, _REF, _SECOND),  # reduce_only: a short sale never reduces
        # every field at its widest (price_collar: the price is far off)
        (22, 1023, 8191, buy, 10_000, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF),
    ]))]
    risk.apply_updates(_updates([
        (1, 7, 1, buy, fill, 60, _REF),  # locate 1 net +60
        (1, 7, 1, buy, cancel, 40, _REF),
        (3, 7, 1, buy, fill, 10_000, _REF - 100),
        (6, 7, 1, sell, cancel, 10, _REF * 95 // 100),
        (99, 7, 9000, buy, fill, 1, _REF),  # dropped: locate outside the table
        (99, 2000, 1, buy, fill, 1, _REF),  # dropped: account outside the table
        (99, 7, 1, buy, 3, 1, _REF),  # dropped: unknown kind
    ]))
    decisions.append(risk.submit(_orders([
        (30, 6, 1, sell, 50, _REF, _SECOND),  # reduce_only: a sell that reduces, accepted
        (31, 6, 1, sell, 20_000, _REF, _SECOND),  # max_qty, max_notional, reduce_only
        (32, 7, 2, buy, 100, _REF, _SECOND),  # max_long met exactly: accepted
        (33, 7, 2, buy, 1, _REF, _SECOND),  # position: 100 open + 1 > 100
    ])))
    risk.write_register("kill_switch", 1)
    kill = risk.read_register("kill_switch")
    decisions.append(risk.submit(_orders([(40, 7, 1, buy, 1, _REF, 2 * _SECOND)])))
    risk.write_register("kill_switch", 0)
    _risk_limits(risk, 1, 7, instrument={"halted": True})
    decisions.append(risk.submit(_orders([(41, 7, 1, buy, 1, _REF, 2 * _SECOND)])))
    _risk_limits(risk, 1, 7, instrument={}, acct={"halted": True})
    decisions.append(risk.submit(_orders([(42, 7, 1, buy, 1, _REF, 2 * _SECOND)])))
    _risk_limits(risk, 1, 7, acct={})
    decisions.append(risk.submit(_orders([(43, 7, 1, buy, 1, _REF, 2 * _SECOND)])))
    risk.write_register("state_clear", 1)  # start of day: ids forgotten, positions flat
    decisions.append(risk.submit(_orders([
        (1, 7, 1, buy, 100, _REF, 3 * _SECOND),  # accepted again
        (43, 6, 1, sell, 1, _REF, 3 * _SECOND),  # reduce_only from flat
    ])))
    return {"decisions": np.concatenate(decisions), "counters": risk.counters(),
            "registers": {**registers, "kill_switch_on": kill,
                          "kill_switch": risk.read_register("kill_switch")}}


SCENARIOS: dict[str, tuple[Callable[[Any], dict[str, Any]], type[_PynqPart],
                           tuple[str, ...], str]] = {
    "feed": (scenario, PynqFeedParser, FEED_PARTS, "records"),
    "risk": (scenario_risk, PynqRiskEngine, RISK_PARTS, "decisions"),
}


def record(out: Path, board: Board, source: str, which: str = "feed") -> dict[str, Any]:
    run, part, _, _ = SCENARIOS[which]
    recording = RecordingBoard(board, out, source)
    try:
        return run(part(board=recording))
    finally:
        recording.close()


def add_record_arguments(rec: argparse.ArgumentParser) -> None:
    """The options of ``record`` (also ``nanogate hw record-pynq``)."""
    rec.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.jsonl")
    rec.add_argument("--scenario", choices=sorted(SCENARIOS), default="feed",
                     help="feed: the feed parser (feed_scenario.jsonl); risk: the risk "
                          "pipeline (risk_scenario.jsonl). Default: feed")
    source = rec.add_mutually_exclusive_group(required=True)
    source.add_argument("--bitstream", metavar="X.bit", help="on a board: load this overlay")
    source.add_argument("--stand-in", choices=["software"],
                        help="no board: the software model answers (a synthesised transcript)")


def run_record(args: argparse.Namespace,
               open_board: Callable[[str], Board] | None = None) -> int:
    """Run ``args.scenario`` on a board (or the stand-in) and write its transcript."""
    _, _, needs, what_out = SCENARIOS[args.scenario]
    try:
        if args.stand_in:
            board: Board = ModelBoard()
            flag = "" if args.scenario == "feed" else f" --scenario {args.scenario}"
            what = ("synthesised from the software model, to be re-recorded on a KV260 "
                    f"(nanogate hw record-pynq{flag} --bitstream X.bit)")
        else:
            board = (open_board(args.bitstream) if open_board is not None
                     else LiveBoard(args.bitstream, needs))
            what = f"recorded on a board with {Path(args.bitstream).name}"
        result = record(args.output, board, what, args.scenario)
    except DeviceError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(result[what_out])} {what_out}, {what}")
    return 0


def main(argv: Sequence[str] | None = None,
         open_board: Callable[[str], Board] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nanogate.gateway.device.pynq",
        description="Record the pynq backend's register and DMA traffic as a transcript "
                    "(the same as `nanogate hw record-pynq`).")
    commands = parser.add_subparsers(dest="command", required=True)
    add_record_arguments(commands.add_parser("record",
                                             help="run a scenario and write its transcript"))
    return run_record(parser.parse_args(argv), open_board)


if __name__ == "__main__":
    sys.exit(main())
