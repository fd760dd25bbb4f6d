"""The ``pynq`` device backend: a Kria KV260 / KR260 running the nanogate overlay.

The overlay (``hw/platforms/kria``) holds the feed parser IP (``nanogate_feed_0``,
registers :data:`~nanogate.proto.feed_regs.FEED_REGS` on AXI4-Lite) and an AXI DMA
(``axi_dma_feed``): MM2S carries one MoldUDP64 payload per transfer into the parser,
S2MM brings one BookEvent per transfer (each record ends with TLAST), 64 bytes,
the record's bits first field at bit 0, through an AXI-Stream FIFO of
:data:`RECORD_FIFO` records. :meth:`PynqFeedParser.push` sends at most
:data:`PACKETS_PER_BATCH` packets before draining, so the FIFO never fills.

Everything goes through a :class:`Board`: :class:`LiveBoard` (``pynq.Overlay``,
MMIO, DMA; ``pynq`` imported only here, it pins numpy < 2), :class:`RecordingBoard`
(writes every register and DMA operation to a JSON-lines transcript),
:class:`ReplayBoard` (answers from a transcript, and fails at the first operation
that differs: what CI runs), and :class:`ModelBoard` (the software golden model
standing in for a board, used to synthesise a transcript when no board is at hand).

``python -m nanogate.gateway.device.pynq record -o FILE (--bitstream X.bit | --stand-in
software)`` runs :func:`scenario` and records it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nanogate.gateway.device import DeviceError, FeedParser
from nanogate.gateway.device.aws import beats_to_records, records_to_beats
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, FILTER_PASS_BIT
from nanogate.proto.itch import MESSAGES
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE
from nanogate.proto.regmap import WORD_BYTES, RegisterMap

FEED_IP = "nanogate_feed_0"
FEED_DMA = "axi_dma_feed"
RECORD_BYTES = 64
RECORD_FIFO = 4096
#: A MoldUDP64 payload of 1500 bytes carries at most 500 messages of 3 bytes (2 + type):
#: eight such packets fit the record FIFO.
PACKETS_PER_BATCH = 8
TRANSCRIPT_VERSION = 1


class Board(Protocol):
    def read(self, ip: str, offset: int) -> int: ...

    def write(self, ip: str, offset: int, value: int) -> None: ...

    def send(self, dma: str, data: bytes) -> None: ...

    def recv(self, dma: str, nbytes: int) -> bytes: ...


class LiveBoard:
    """A board with the overlay loaded: ``pynq.Overlay(bitstream)``."""

    def __init__(self, bitstream: str) -> None:
        try:
            import pynq
        except ImportError:
            raise DeviceError("the pynq backend on a board needs the pynq package "
                              "(pip install '.[pynq]' on the board)") from None
        self._pynq = pynq
        self.overlay = pynq.Overlay(bitstream)
        missing = {FEED_IP, FEED_DMA} - set(self.overlay.ip_dict)
        if missing:
            raise DeviceError(f"{bitstream}: overlay has no {', '.join(sorted(missing))} "
                              f"(has {', '.join(sorted(self.overlay.ip_dict))})")

    def read(self, ip: str, offset: int) -> int:
        return int(getattr(self.overlay, ip).mmio.read(offset))

    def write(self, ip: str, offset: int, value: int) -> None:
        getattr(self.overlay, ip).mmio.write(offset, value)

    def send(self, dma: str, data: bytes) -> None:
        buffer = self._pynq.allocate(shape=(len(data),), dtype=np.uint8)
        buffer[:] = np.frombuffer(data, dtype=np.uint8)
        channel = getattr(self.overlay, dma).sendchannel
        channel.transfer(buffer)
        channel.wait()
        buffer.freebuffer()

    def recv(self, dma: str, nbytes: int) -> bytes:
        buffer = self._pynq.allocate(shape=(nbytes,), dtype=np.uint8)
        channel = getattr(self.overlay, dma).recvchannel
        channel.transfer(buffer)
        channel.wait()
        data = bytes(buffer)
        buffer.freebuffer()
        return data


class ModelBoard:
    """The software golden model answering as the overlay would (no board needed)."""

    def __init__(self) -> None:
        from nanogate.gateway.device.software_feed import SoftwareFeedParser

        self.model = SoftwareFeedParser()
        self._by_offset = {FEED_REGS.offset(r.name): r for r in FEED_REGS.registers}
        self._out: deque[bytes] = deque()
        self._latched: dict[str, int] = {}
        self._staged: dict[str, int] = {}

    def _register(self, ip: str, offset: int) -> tuple[str, int]:
        if ip != FEED_IP:
            raise DeviceError(f"no IP {ip!r} in the model overlay")
        for base, register in self._by_offset.items():
            if base <= offset < base + register.words * WORD_BYTES:
                return register.name, (offset - base) // WORD_BYTES
        raise DeviceError(f"{ip}: no register at {offset:#x}")

    def read(self, ip: str, offset: int) -> int:
        name, word = self._register(ip, offset)
        if word == 0:
            self._latched[name] = self.model.read_register(name)
            return self._latched[name] & 0xFFFFFFFF
        return self._latched.get(name, 0) >> (32 * word) & 0xFFFFFFFF

    def write(self, ip: str, offset: int, value: int) -> None:
        name, word = self._register(ip, offset)
        register = FEED_REGS.register(name)
        staged = self._staged.get(name, 0) & ~(0xFFFFFFFF << (32 * word))
        self._staged[name] = staged | (value & 0xFFFFFFFF) << (32 * word)
        if word == register.words - 1:  # the last word's write is the strobe
            self.model.write_register(name, self._staged[name] & ((1 << register.width) - 1))

    def send(self, dma: str, data: bytes) -> None:
        records = self.model.push([data])
        for row in records:
            self._out.append(records_to_beats(BOOK_EVENT, np.array([row]), RECORD_BYTES))

    def recv(self, dma: str, nbytes: int) -> bytes:
        if not self._out:
            raise DeviceError(f"{dma}: receive of {nbytes} bytes with no record waiting")
        return self._out.popleft()


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


class PynqFeedParser:
    """The feed parser in the overlay. Options: ``bitstream`` (a board), ``replay``
    (a transcript path), or ``board`` (any :class:`Board`)."""

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - {"bitstream", "replay", "board"}
        if unknown or len(options) != 1:
            raise DeviceError("the pynq backend takes one of bitstream=X.bit, "
                              "replay=TRANSCRIPT or board=BOARD")
        if "board" in options:
            self.board: Board = options["board"]
        elif "replay" in options:
            self.board = ReplayBoard(Path(options["replay"]))
        else:
            self.board = LiveBoard(str(options["bitstream"]))

    @property
    def regmap(self) -> RegisterMap:
        return FEED_REGS

    def read_register(self, name: str) -> int:
        register = FEED_REGS.register(name)
        base = FEED_REGS.offset(name)
        return sum(self.board.read(FEED_IP, base + WORD_BYTES * word) << (32 * word)
                   for word in range(register.words))

    def write_register(self, name: str, value: int) -> None:
        register = FEED_REGS.register(name)
        if not register.writable:
            raise DeviceError(f"register {name!r} is read-only")
        if not 0 <= value < 1 << register.width:
            raise DeviceError(f"{name}: {value} does not fit {register.width} bits")
        base = FEED_REGS.offset(name)
        for word in range(register.words):
            self.board.write(FEED_IP, base + WORD_BYTES * word, value >> (32 * word) & 0xFFFFFFFF)

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


class PynqRiskEngine:
    """Slot for the risk pipeline in the Kria overlay (not in the block design yet)."""

    def __init__(self, **options: Any) -> None:
        raise DeviceError("the Kria overlay does not hold the risk pipeline yet "
                          "(docs/deploy.md, 'What is left')")


# --- the recorded scenario ------------------------------------------------------------

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


def record(out: Path, board: Board, source: str) -> dict[str, Any]:
    recording = RecordingBoard(board, out, source)
    try:
        return scenario(PynqFeedParser(board=recording))
    finally:
        recording.close()


def main(argv: Sequence[str] | None = None,
         open_board: Callable[[str], Board] = LiveBoard) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nanogate.gateway.device.pynq",
        description="Record the pynq backend's register and DMA traffic as a transcript.")
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="run the scenario and write its transcript")
    rec.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.jsonl")
    source = rec.add_mutually_exclusive_group(required=True)
    source.add_argument("--bitstream", metavar="X.bit", help="on a board: load this overlay")
    source.add_argument("--stand-in", choices=["software"],
                        help="no board: the software model answers (a synthesised transcript)")
    args = parser.parse_args(argv)
    try:
        if args.stand_in:
            board: Board = ModelBoard()
            what = ("synthesised from the software model, to be re-recorded on a KV260 "
                    "(python -m nanogate.gateway.device.pynq record --bitstream X.bit)")
        else:
            board = open_board(args.bitstream)
            what = f"recorded on a board with {Path(args.bitstream).name}"
        result = record(args.output, board, what)
    except DeviceError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(result['records'])} records, {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
