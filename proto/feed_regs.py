"""The feed parser's register map, defined once.

The gateware's AXI-Lite bank (``nanogate.hw.feed.top``), every host backend's
``read_register``/``write_register`` (``software``, ``rtl-sim``, boards) and
the Markdown table in docs/hw-feed.md come from :data:`FEED_REGS`.

Counters are read-only, start at 0 on reset and wrap. The per-fault counters
are named after :class:`nanogate.proto.faults.Fault` (``truncated``,
``bad_length``, ...), so ``nanogate feed stats``, the software model and the
hardware all count a dropped message under the same name.
"""

from __future__ import annotations

from nanogate.proto.faults import Fault
from nanogate.proto.regmap import Access, Register, register_map

#: Bits of a stock locate code (ITCH ``stock_locate`` is a u16).
LOCATE_BITS = 16
#: ``filter_write`` bit that says "pass this locate" (the low bits are the locate).
FILTER_PASS_BIT = LOCATE_BITS

_FAULT_DOCS = {
    Fault.TRUNCATED: "packets whose last message or length prefix runs past the payload end",
    Fault.UNKNOWN_TYPE: "messages whose type byte is not in the ITCH 5.0 table",
    Fault.BAD_LENGTH: "messages whose length prefix is 0 or not the type's length",
    Fault.TRAILING_BYTES: "packets with bytes after their announced messages",
    Fault.SHORT_PACKET: "payloads shorter than the 20-byte MoldUDP64 header",
}

#: Counter registers in the order the map lists them (all ``ro``).
COUNTERS: tuple[Register, ...] = (
    Register("packets", Access.RO, 32, "MoldUDP64 payloads taken (frames, any content)"),
    Register("messages", Access.RO, 32, "valid messages decoded (before the filter)"),
    Register("records", Access.RO, 32, "BookEvent records sent out (after the filter)"),
    Register("filtered", Access.RO, 32, "records dropped by the instrument filter"),
    Register("heartbeats", Access.RO, 32, "heartbeat packets (message count 0)"),
    Register("end_of_session", Access.RO, 32, "end-of-session packets (count 0xFFFF)"),
    *(Register(fault.label, Access.RO, 32, _FAULT_DOCS[fault]) for fault in Fault),
    Register("gaps", Access.RO, 32, "places where the sequence number jumped forward"),
    Register("duplicates", Access.RO, 32, "messages whose sequence number was seen already"),
    Register("missing", Access.RO, 64, "sequence numbers skipped over at the gaps"),
    Register("stalls", Access.RO, 32,
             "cycles a beat was offered and not taken (back-pressure from the record "
             "sink, or a beat framing several malformed blocks); always 0 in software"),
)

#: Counters whose value depends on timing, not on the packets: left out of comparisons.
TIMING_COUNTERS = frozenset({"stalls"})

FEED_REGS = register_map("feed parser", [
    Register("filter_enable", Access.RW, 1,
             "1: pass only the stock locates marked in the filter table; 0: pass all"),
    Register("filter_write", Access.WO, LOCATE_BITS + 1,
             "write one filter table entry: bits 15..0 the stock locate, bit 16 pass (1) "
             "or drop (0); the table starts all drop, so enable it after marking"),
    *COUNTERS,
], doc="AXI4-Lite, 32-bit words; a 64-bit counter reads low word first (which latches "
       "the high word). Generated from `nanogate.proto.feed_regs.FEED_REGS`.")

COUNTER_NAMES: tuple[str, ...] = tuple(r.name for r in COUNTERS)
