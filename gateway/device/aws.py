"""The ``aws`` device backend: the custom logic of an F2 (or F1) instance, over PCIe.

The shell gives the host two windows on the custom logic (docs/deploy.md has the map):

* **OCL** (AppPF BAR0, AXI4-Lite, 32-bit): the register banks. The feed parser's
  :data:`~nanogate.proto.feed_regs.FEED_REGS` at :data:`OCL_FEED_BASE`, the risk
  pipeline's :data:`~nanogate.proto.risk.RISK_REGMAP` at :data:`OCL_RISK_BASE`, and
  :data:`PLATFORM_REGS` (id, records and decisions waiting) at :data:`OCL_PLATFORM_BASE`.
* **PCIS** (AppPF BAR4, AXI4 512-bit): stream windows, one 64-byte beat per record,
  with the framing :mod:`nanogate.proto.aws_map` defines once for this driver and the
  gateware (``hw/platforms/pcis.py``). Packets are written to :data:`PACKET_WINDOW`
  as :func:`~nanogate.proto.aws_map.packet_frame` makes them (a header beat with the
  length and a magic, then the payload padded to whole beats); orders and updates one
  record per beat to their windows. BookEvents and decisions are read from ring
  windows: the platform registers say how many are waiting (``records_ready``) and
  where the oldest is (``records_tail``); the host reads those slots (reads have no
  side effects) and frees them by writing the count to ``records_pop``. A record's
  bits are its :class:`~nanogate.proto.records.RecordLayout`, first field at bit 0,
  the beat little-endian, as the gateware's ``tdata``.

The host never lets the records it may cause outrun a ring's free slots (a full ring
stalls the PCIS writes, and the shell times out a write that waits too long): packets
go in groups whose :func:`~nanogate.proto.aws_map.records_bound` fits the ring, orders
in groups of at most :data:`RING_RECORDS`, each group drained before the next.

Both BARs are memory-mapped from their ``/sys/bus/pci/devices/<bdf>/resource<N>``
files (``bdf=`` option, ``slot=`` (its address read with ``fpga-describe-local-image``),
the one AFI in sysfs with the CL's PCI ids when neither is given; or ``ocl=`` / ``pcis=``
paths). Tests map temporary files in
their place and check that each access lands at the offset the register map gives.
Registers are accessed as single aligned 32-bit loads and stores, as AXI4-Lite wants.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nanogate.gateway.device import DeviceError
from nanogate.proto.aws_map import (
    BEAT_BYTES,
    CL_PCI_DEVICE,
    CL_PCI_VENDOR,
    DECISION_WINDOW,
    MAX_PACKET_BYTES,
    OCL_BAR,
    OCL_FEED_BASE,
    OCL_PLATFORM_BASE,
    OCL_RISK_BASE,
    ORDER_WINDOW,
    PACKET_WINDOW,
    PCIS_BAR,
    PLATFORM_ID,
    PLATFORM_REGS,
    RECORD_WINDOW,
    RING_RECORDS,
    UPDATE_WINDOW,
    WINDOW_BYTES,
    packet_frame,
    records_bound,
)
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE, RecordLayout
from nanogate.proto.regmap import WORD_BYTES, RegisterMap
from nanogate.proto.risk import COUNTERS as RISK_COUNTERS
from nanogate.proto.risk import DECISION, DECISION_DTYPE, ORDER, RISK_REGMAP, UPDATE

# --- records as beats -----------------------------------------------------------------

def record_to_int(layout: RecordLayout, row: Any) -> int:
    """One record (a NumPy row or mapping) as its bit pattern, first field at bit 0."""
    bits, offset = 0, 0
    for f in layout.fields:
        value = row[f.name]
        if f.kind == "ascii":
            number = int.from_bytes(bytes(value).ljust(f.bits // 8, b"\0"), "big")
        else:
            number = int(value)
        if not 0 <= number < 1 << f.bits:
            raise DeviceError(f"{layout.name}.{f.name}: {number} does not fit {f.bits} bits")
        bits |= number << offset
        offset += f.bits
    return bits


def int_to_row(layout: RecordLayout, bits: int) -> tuple[object, ...]:
    values: list[object] = []
    offset = 0
    for f in layout.fields:
        raw = bits >> offset & ((1 << f.bits) - 1)
        values.append(raw.to_bytes(f.bits // 8, "big").rstrip(b"\0") if f.kind == "ascii"
                      else raw)
        offset += f.bits
    return tuple(values)


def records_to_beats(layout: RecordLayout, records: np.ndarray, beat: int = BEAT_BYTES) -> bytes:
    return b"".join(record_to_int(layout, row).to_bytes(beat, "little") for row in records)


def beats_to_records(layout: RecordLayout, dtype: np.dtype, data: bytes,
                     beat: int = BEAT_BYTES) -> np.ndarray:
    if len(data) % beat:
        raise DeviceError(f"{len(data)} bytes are not whole {beat}-byte beats")
    rows = [int_to_row(layout, int.from_bytes(data[i:i + beat], "little"))
            for i in range(0, len(data), beat)]
    return np.array(rows, dtype=dtype)


def packet_beats(payload: bytes) -> bytes:
    """A packet as the packet window takes it (:func:`~nanogate.proto.aws_map.packet_frame`)."""
    if not 0 < len(payload) <= MAX_PACKET_BYTES:
        raise DeviceError(f"a {len(payload)}-byte payload does not fit the packet window "
                          f"(1..{MAX_PACKET_BYTES} bytes)")
    return packet_frame(payload)


# --- the BARs -------------------------------------------------------------------------

class Bar:
    """A memory-mapped PCI BAR (or a file standing in for one)."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_SYNC)
        except OSError as error:
            raise DeviceError(f"cannot open {path}: {error.strerror or error} (the AWS "
                              f"backend needs the AFI loaded and root, or a udev rule)") from None
        try:
            length = size or os.fstat(fd).st_size
            if length <= 0:
                raise DeviceError(f"{path}: empty; is this a BAR resource file?")
            self._map = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError) as error:
            raise DeviceError(f"cannot map {path}: {error}") from None
        finally:
            os.close(fd)
        self._words = memoryview(self._map).cast("I")  # one aligned 32-bit access each

    @property
    def size(self) -> int:
        return len(self._map)

    def _check(self, offset: int, length: int, align: int) -> None:
        if offset % align or offset < 0 or offset + length > self.size:
            raise DeviceError(f"{self.path}: access of {length} bytes at {offset:#x} outside "
                              f"the {self.size:#x}-byte BAR or not {align}-byte aligned")

    def read32(self, offset: int) -> int:
        self._check(offset, 4, 4)
        return int(self._words[offset // 4])

    def write32(self, offset: int, value: int) -> None:
        self._check(offset, 4, 4)
        self._words[offset // 4] = value & 0xFFFFFFFF

    def write_block(self, offset: int, data: bytes) -> None:
        self._check(offset, len(data), BEAT_BYTES)
        self._map[offset:offset + len(data)] = data

    def read_block(self, offset: int, length: int) -> bytes:
        self._check(offset, length, BEAT_BYTES)
        return bytes(self._map[offset:offset + length])

    def close(self) -> None:
        self._words.release()
        self._map.close()


#: Why a count does not move: a stalled CL, or files standing in for the BARs (no logic).
STALLED = ("the custom logic did not count them (a file standing in for a BAR never does: "
           "without the FPGA only register reads and writes work)")
#: Where Linux lists PCI functions; the AppPF of a loaded nanogate AFI carries the CL's ids.
SYSFS_PCI = Path("/sys/bus/pci/devices")
#: The PCI vendor and device ids ``cl_nanogate`` gives its AppPF (``cl_sh_id0``).
PCI_VENDOR, PCI_DEVICE = CL_PCI_VENDOR, CL_PCI_DEVICE  # what the CL reports as cl_sh_id0


def find_afis(root: Path | None = None) -> list[str]:
    """The PCI addresses under ``root`` (sysfs) whose vendor and device ids are the CL's."""
    root = root or SYSFS_PCI
    found = []
    for function in sorted(root.glob("*")):
        try:
            vendor = int((function / "vendor").read_text(), 16)
            device = int((function / "device").read_text(), 16)
        except (OSError, ValueError):
            continue
        if (vendor, device) == (PCI_VENDOR, PCI_DEVICE):
            found.append(function.name)
    return found


def slot_bdf(slot: int) -> str:
    """The PCI address of FPGA slot ``slot``, from ``fpga-describe-local-image -S N -H``."""
    from nanogate.hw.deploy.aws import SDK_HINT, AwsDeployError, parse_describe
    from nanogate.hw.deploy.tools import ToolError, run_tool

    argv = ["fpga-describe-local-image", "-S", str(slot), "-H"]
    try:
        status = parse_describe(run_tool(argv, hint=SDK_HINT, timeout=60).stdout, slot)
    except (ToolError, AwsDeployError) as error:
        raise DeviceError(f"slot={slot}: cannot find its PCI address: {error}") from None
    if not status.dbdf:
        raise DeviceError(f"slot={slot}: `{' '.join(argv)}` shows no AFIDEVICE row "
                          f"(AFI {status.image} {status.status}); is an AFI loaded?")
    return status.dbdf


def bar_paths(options: dict[str, Any]) -> tuple[Path, Path]:
    """The OCL and PCIS resource files the options name: ``ocl`` + ``pcis``, ``bdf``,
    ``slot``, or else the one AFI in sysfs with the CL's PCI ids."""
    if "ocl" in options or "pcis" in options:
        if not ("ocl" in options and "pcis" in options):
            raise DeviceError("the aws backend needs both ocl= and pcis= resource paths")
        return Path(options["ocl"]), Path(options["pcis"])
    if "bdf" in options:
        bdf = str(options["bdf"])
    elif "slot" in options:
        bdf = slot_bdf(int(options["slot"]))
    else:
        found = find_afis()
        if len(found) != 1:
            seen = (f"several: {', '.join(found)}" if found else
                    f"no PCI function under {SYSFS_PCI} has vendor {PCI_VENDOR:#06x}, "
                    f"device {PCI_DEVICE:#06x}, the nanogate CL's ids")
            raise DeviceError(f"no single nanogate AFI found ({seen}): the aws backend needs "
                              f"bdf=DOMAIN:BUS:DEV.FN (from `fpga-describe-local-image -H`, "
                              f"AFIDEVICE row), slot=N, or both ocl= and pcis= resource paths")
        bdf = found[0]
    root = SYSFS_PCI / bdf
    return root / f"resource{OCL_BAR}", root / f"resource{PCIS_BAR}"


class BarLike(Protocol):
    """What the backend needs of a BAR: :class:`Bar`, or a simulation standing in for one."""

    def read32(self, offset: int) -> int: ...
    def write32(self, offset: int, value: int) -> None: ...
    def write_block(self, offset: int, data: bytes) -> None: ...
    def read_block(self, offset: int, length: int) -> bytes: ...
    def close(self) -> None: ...


class _AwsPart:
    """Registers of one bank through OCL, plus the PCIS windows."""

    _regmap: RegisterMap
    _base: int
    ocl: BarLike
    pcis: BarLike

    def __init__(self, **options: Any) -> None:
        known = {"bdf", "slot", "ocl", "pcis", "timeout_s"}
        unknown = set(options) - known
        if unknown:
            raise DeviceError(f"unknown aws backend options {sorted(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        ocl, pcis = bar_paths(options)
        self._attach(Bar(ocl), Bar(pcis), float(options.get("timeout_s", 1.0)), str(ocl))

    @classmethod
    def from_bars(cls, ocl: BarLike, pcis: BarLike, timeout_s: float = 1.0) -> Any:
        """The backend on BARs given as objects (a simulated custom logic, in tests)."""
        part = cls.__new__(cls)
        part._attach(ocl, pcis, timeout_s, "ocl")
        return part

    def _attach(self, ocl: BarLike, pcis: BarLike, timeout_s: float, where: str) -> None:
        self.timeout_s = timeout_s
        self.ocl = ocl
        self.pcis = pcis
        platform_id = self._platform("platform_id")
        if platform_id != PLATFORM_ID:
            raise DeviceError(f"{where}: platform_id reads {platform_id:#010x}, not "
                              f"{PLATFORM_ID:#010x}: is the nanogate AGFI loaded in this slot?")
        self._opened()

    def _opened(self) -> None:
        """Called once the BARs are attached: the parts read their starting counters."""

    @property
    def regmap(self) -> RegisterMap:
        return self._regmap

    def _platform(self, name: str) -> int:
        return self.ocl.read32(OCL_PLATFORM_BASE + PLATFORM_REGS.offset(name))

    def read_register(self, name: str) -> int:
        register = self._regmap.register(name)
        address = self._base + self._regmap.offset(name)
        value = 0
        for word in range(register.words):  # low word first: it latches the high words
            value |= self.ocl.read32(address + word * WORD_BYTES) << (32 * word)
        return value

    def write_register(self, name: str, value: int) -> None:
        register = self._regmap.register(name)
        if not register.writable:
            raise DeviceError(f"register {name!r} is read-only")
        if not 0 <= value < 1 << register.width:
            raise DeviceError(f"{name}: {value} does not fit {register.width} bits")
        address = self._base + self._regmap.offset(name)
        for word in range(register.words):  # the last word's write is the strobe
            self.ocl.write32(address + word * WORD_BYTES, value >> (32 * word))

    def _wait(self, name: str, target: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.read_register(name) != target & 0xFFFFFFFF:
            if time.monotonic() > deadline:
                raise DeviceError(f"{name} did not reach {target & 0xFFFFFFFF} within "
                                  f"{self.timeout_s:g} s (reads {self.read_register(name)}): "
                                  f"{STALLED}")
            time.sleep(0.0001)

    def _settled(self, name: str) -> int:
        """A platform count, read until two reads agree (records may still be leaving)."""
        value = self._platform(name)
        while (again := self._platform(name)) != value:
            value = again
        return value

    def _drain(self, ready: str, window: int, layout: RecordLayout, dtype: np.dtype,
               count: int | None = None) -> np.ndarray:
        """Read the waiting records from a ring window, then free their slots."""
        if count is None:
            count = self._settled(ready)
        tail = self._platform(ready.replace("_ready", "_tail")) % RING_RECORDS
        data = bytearray()
        while len(data) < count * BEAT_BYTES:  # contiguous slots, wrapping once
            run = min(count - len(data) // BEAT_BYTES, RING_RECORDS - tail)
            data += self.pcis.read_block(window + tail * BEAT_BYTES, run * BEAT_BYTES)
            tail = (tail + run) % RING_RECORDS
        if count:
            self.ocl.write32(OCL_PLATFORM_BASE + PLATFORM_REGS.offset(
                ready.replace("_ready", "_pop")), count)
        return beats_to_records(layout, dtype, bytes(data))

    def close(self) -> None:
        self.ocl.close()
        self.pcis.close()


class AwsFeedParser(_AwsPart):
    """The feed parser of a loaded nanogate AFI. Options: ``bdf``, ``slot``
    or ``ocl`` + ``pcis`` (none: the one AFI found in sysfs), ``timeout_s``."""

    _regmap = FEED_REGS
    _base = OCL_FEED_BASE

    def _opened(self) -> None:
        self._packets = self.read_register("packets")
        self._offset = 0
        self._drain("records_ready", RECORD_WINDOW, BOOK_EVENT, BOOK_EVENT_DTYPE)  # stale

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        frames = [packet_beats(payload) for payload in payloads]
        out: list[np.ndarray] = []
        start = 0
        while start < len(frames):
            end, bound = start, 0
            while end < len(frames) and (end == start or bound + records_bound(
                    len(payloads[end])) <= RING_RECORDS):
                bound += records_bound(len(payloads[end]))
                end += 1
            for frame in frames[start:end]:
                if self._offset + len(frame) > WINDOW_BYTES:
                    self._offset = 0  # the window is a port: any offset will do, in order
                self.pcis.write_block(PACKET_WINDOW + self._offset, frame)
                self._offset += len(frame)
            self._packets += end - start
            self._wait("packets", self._packets)
            out.append(self._drain("records_ready", RECORD_WINDOW, BOOK_EVENT,
                                   BOOK_EVENT_DTYPE))
            start = end
        return np.concatenate(out) if out else np.zeros(0, BOOK_EVENT_DTYPE)

    def counters(self) -> dict[str, int]:
        return {name: self.read_register(name) for name in COUNTER_NAMES}


class AwsRiskEngine(_AwsPart):
    """The risk pipeline of a loaded nanogate AFI. Options: ``bdf``, ``slot``
    or ``ocl`` + ``pcis`` (none: the one AFI found in sysfs), ``timeout_s``."""

    _regmap = RISK_REGMAP
    _base = OCL_RISK_BASE

    def _opened(self) -> None:
        self._orders = self.read_register("orders")
        self._updates = self._updates_seen()
        self._drain("decisions_ready", DECISION_WINDOW, DECISION, DECISION_DTYPE)  # stale

    def _updates_seen(self) -> int:
        return sum(self.read_register(n) for n in ("fills", "cancels", "updates_dropped"))

    def _stream(self, window: int, layout: RecordLayout, records: np.ndarray) -> None:
        data = records_to_beats(layout, records)
        for start in range(0, len(data), WINDOW_BYTES):
            self.pcis.write_block(window, data[start:start + WINDOW_BYTES])

    def submit(self, orders: np.ndarray) -> np.ndarray:
        out: list[np.ndarray] = []
        for start in range(0, len(orders), RING_RECORDS):  # a ring's worth at a time
            group = orders[start:start + RING_RECORDS]
            self._stream(ORDER_WINDOW, ORDER, group)
            self._orders += len(group)
            self._wait("orders", self._orders)
            deadline = time.monotonic() + self.timeout_s
            while (ready := self._platform("decisions_ready")) < len(group):
                if time.monotonic() > deadline:
                    raise DeviceError(f"{len(group)} decisions not all out within "
                                      f"{self.timeout_s:g} s ({ready} are): {STALLED}")
                time.sleep(0.0001)
            out.append(self._drain("decisions_ready", DECISION_WINDOW, DECISION,
                                   DECISION_DTYPE, count=len(group)))
        return np.concatenate(out) if out else np.zeros(0, DECISION_DTYPE)

    def apply_updates(self, updates: np.ndarray) -> None:
        self._stream(UPDATE_WINDOW, UPDATE, updates)
        self._updates += len(updates)
        deadline = time.monotonic() + self.timeout_s
        while self._updates_seen() & 0xFFFFFFFF != self._updates & 0xFFFFFFFF:
            if time.monotonic() > deadline:
                raise DeviceError(f"{len(updates)} updates not all applied within "
                                  f"{self.timeout_s:g} s: {STALLED}")
            time.sleep(0.0001)

    def counters(self) -> dict[str, int]:
        return {name: self.read_register(name) for name in RISK_COUNTERS}
