"""The AWS custom logic's address map and PCIS framing, defined once for the gateware
and the host driver.

OCL BAR0 (AXI4-Lite, 32-bit registers) is cut into 4 KiB banks: the feed
parser's registers, the risk pipeline's, and the platform's own. The PCIS
BAR4 (512-bit AXI4 inbound) holds 64 KiB windows. The host writes packets,
orders and updates into the first three and reads BookEvents and decisions
from the other two. ``nanogate.hw.platforms`` builds the custom logic from
this map (``pcis.py`` is the adapter) and ``nanogate.gateway.device.aws``
drives it.

Inbound windows are ports, not memory: what matters is the order in which
64-byte beats are completed, not where in the window they land (the host
writes them in order and wraps within the window). A beat is taken when all
64 of its bytes have been written, in one burst or in several partial
(``WSTRB``) writes: an uncached store from the CPU reaches the shell as a
single beat with 8 (or 16, 32) strobe bits set. Records go one per beat,
first field at bit 0, the beat little-endian (the gateware's ``tdata``).
A packet is a header beat (:data:`PACKET_HEADER`: payload length, u32 LE, at
bytes 0..3; :data:`PACKET_MAGIC` at bytes 4..7; the rest zero) then the
payload, padded with zeros to whole beats (:func:`packet_frame`). A header
beat with a wrong magic, a zero length or a length over
:data:`MAX_PACKET_BYTES` is dropped and counted (``pcis_framing_errors``); the
adapter keeps looking for a header, so the stream resynchronises.

Outbound windows are rings of :data:`RING_RECORDS` beats with reads that have
no side effects (a CPU may split or repeat a read of a beat): slot ``i`` is at
window offset ``i * 64``. The host reads ``records_ready`` and
``records_tail`` (the slot of the oldest unread record) from the platform
registers, reads the slots ``tail, tail + 1, ...`` modulo
:data:`RING_RECORDS`, then writes the count it read to ``records_pop``, which
frees them. Decisions likewise. A full ring stalls the core (counted as the
core's own stall counters), never drops.

Errors: a write outside the three inbound windows gets ``SLVERR`` (counted in
``pcis_write_errors``, data discarded); a read outside the two outbound
windows gets ``SLVERR`` with zero data (``pcis_read_errors``). Cycles in which
the adapter holds ``WREADY`` low because the core is not taking data are
counted in ``pcis_stall_cycles``.
"""

from __future__ import annotations

from nanogate.proto.itch import HEADER_LENGTH as ITCH_HEADER_LENGTH
from nanogate.proto.moldudp64 import HEADER_LENGTH as MOLD_HEADER_LENGTH
from nanogate.proto.regmap import Access, Register, register_map

OCL_FEED_BASE = 0x0000
OCL_RISK_BASE = 0x1000
OCL_PLATFORM_BASE = 0x2000
OCL_BANK_BYTES = 0x1000
#: What ``platform_id`` reads on a nanogate custom logic: ASCII "NGT1".
PLATFORM_ID = 0x4E475431

BEAT_BYTES = 64
WINDOW_BYTES = 0x10000
WINDOW_SHIFT = WINDOW_BYTES.bit_length() - 1
PACKET_WINDOW = 0x00000
ORDER_WINDOW = 0x10000
UPDATE_WINDOW = 0x20000
RECORD_WINDOW = 0x40000
DECISION_WINDOW = 0x50000
#: The windows the host writes, and those it reads.
WRITE_WINDOWS = (PACKET_WINDOW, ORDER_WINDOW, UPDATE_WINDOW)
READ_WINDOWS = (RECORD_WINDOW, DECISION_WINDOW)
#: OCL BAR0 and PCIS BAR4 of the application physical function.
OCL_BAR, PCIS_BAR = 0, 4

#: Slots in each outbound ring: one window of beats.
RING_RECORDS = WINDOW_BYTES // BEAT_BYTES
_COUNT_BITS = RING_RECORDS.bit_length()

#: The packet header beat: (name, byte offset, bytes), little-endian; the rest is zero.
PACKET_HEADER = (("length", 0, 4), ("magic", 4, 4))
#: ASCII "NGPK" as a little-endian u32 (bytes 4..7 of a header beat read "NGPK").
PACKET_MAGIC = int.from_bytes(b"NGPK", "little")
#: The largest payload a header may announce (the header beat and payload fill a window).
MAX_PACKET_BYTES = WINDOW_BYTES - BEAT_BYTES

PLATFORM_REGS = register_map("aws platform", [
    Register("platform_id", Access.RO, 32, "0x4E475431 ('NGT1') on a nanogate custom logic"),
    Register("records_ready", Access.RO, 32, "BookEvent records waiting in the record ring"),
    Register("decisions_ready", Access.RO, 32, "Decision records waiting in the decision ring"),
    Register("records_tail", Access.RO, 32, "record ring slot of the oldest unread record"),
    Register("decisions_tail", Access.RO, 32, "decision ring slot of the oldest unread one"),
    Register("records_pop", Access.WO, _COUNT_BITS,
             "write N: frees the N oldest records (at most records_ready)"),
    Register("decisions_pop", Access.WO, _COUNT_BITS,
             "write N: frees the N oldest decisions (at most decisions_ready)"),
    Register("pcis_write_errors", Access.RO, 32,
             "PCIS write bursts outside the packet/order/update windows (SLVERR)"),
    Register("pcis_read_errors", Access.RO, 32,
             "PCIS read bursts outside the record/decision windows (SLVERR)"),
    Register("pcis_framing_errors", Access.RO, 32,
             "packet header beats dropped: bad magic, zero or oversized length"),
    Register("pcis_stall_cycles", Access.RO, 32,
             "cycles PCIS write data waited (WREADY low) because the core was busy"),
], doc="Platform registers of the AWS custom logic (OCL BAR0 + 0x2000).")


def packet_header(length: int) -> bytes:
    """The header beat announcing a ``length``-byte payload."""
    if not 0 < length <= MAX_PACKET_BYTES:
        raise ValueError(f"a packet payload is 1..{MAX_PACKET_BYTES} bytes, not {length}")
    fields = {"length": length, "magic": PACKET_MAGIC}
    beat = bytearray(BEAT_BYTES)
    for name, offset, size in PACKET_HEADER:
        beat[offset:offset + size] = fields[name].to_bytes(size, "little")
    return bytes(beat)


def packet_frame(payload: bytes) -> bytes:
    """A packet as the packet window takes it: header beat, payload padded to beats."""
    return packet_header(len(payload)) + payload + bytes(-len(payload) % BEAT_BYTES)


def records_bound(payload_bytes: int) -> int:
    """The most BookEvents one ``payload_bytes``-byte MoldUDP64 payload can yield: one per
    message block, each at least a 2-byte length and an ITCH header. The host keeps
    the records it may cause within the ring's free slots, so the ring never fills
    while it is still writing (a full ring stalls PCIS writes, and the shell times
    out a write that waits too long)."""
    return max(0, payload_bytes - MOLD_HEADER_LENGTH) // (2 + ITCH_HEADER_LENGTH) + 1


#: The custom logic's PCI ids (its AppPF), as the HDK examples set them: vendor 0x1D0F
#: (Amazon), device 0xF000. The CL reports them as ``cl_sh_id0``; the host finds the
#: AFI in sysfs by them.
CL_PCI_VENDOR, CL_PCI_DEVICE = 0x1D0F, 0xF000
CL_SH_ID0 = CL_PCI_DEVICE << 16 | CL_PCI_VENDOR
