"""The PCIS adapter: the AWS shell's 512-bit AXI4 inbound port as the cores' streams.

The host writes packets, orders and updates into the PCIS windows and reads BookEvents
and decisions back from them; :mod:`nanogate.proto.aws_map` defines the windows and the
framing once, for this gateware and for the host driver (``gateway/device/aws.py``).

Write side (one burst at a time: AW, its W beats, B). A write burst's window is
decoded from its start address (bursts do not cross 4 KiB, so not a window either);
outside the packet, order and update windows the data is discarded and B says
``SLVERR`` (counted). Each W beat is merged, by ``WSTRB``, into that window's 64-byte
assembly register; a beat is complete when all 64 bytes have been written, in one
beat or in several partial ones, which is how uncached CPU stores arrive. A complete
order or update beat is offered to the risk pipeline as one record; a complete
packet beat is a header (length and magic, else dropped and counted) or the next
512 bits of the payload, sent to the feed parser as eight 64-bit AXI-Stream words
(``tkeep`` on the last, ``tlast`` at the packet's end). Nothing is dropped for want
of room: while a window's complete beat waits for its core, ``WREADY`` stays low
(each such cycle is counted in ``stall_cycles``), and AW is not taken until B.

Read side (one burst at a time: AR, then its R beats). The record and decision
windows are rings of :data:`~nanogate.proto.aws_map.RING_RECORDS` slots; a read
returns the slot (the record in bits ``[n:0]``, zero above) and has no side effect.
The host frees slots with the ``*_pop`` registers. Reads elsewhere return zero data
with ``SLVERR`` (counted). The shells only issue INCR bursts of 64-byte beats
(``AxSIZE`` 6), so ``AxBURST``/``AxSIZE`` are not decoded; ``AxLEN`` is honoured up
to 255.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.layouts import BOOK_EVENT_LAYOUT, beat_layout
from nanogate.proto.aws_map import (
    BEAT_BYTES,
    DECISION_WINDOW,
    MAX_PACKET_BYTES,
    ORDER_WINDOW,
    PACKET_HEADER,
    PACKET_MAGIC,
    PACKET_WINDOW,
    RECORD_WINDOW,
    RING_RECORDS,
    UPDATE_WINDOW,
    WINDOW_SHIFT,
)
from nanogate.proto.risk import DECISION, ORDER, UPDATE

__all__ = ["OKAY", "SLVERR", "AXI4Signature", "PcisAdapter", "RecordRing"]

OKAY, SLVERR = 0b00, 0b10
DATA_BITS = 8 * BEAT_BYTES
FEED_BYTES = 8  # the feed parser's input width
_BEAT_SHIFT = BEAT_BYTES.bit_length() - 1
_HEADER = {name: (8 * offset, 8 * (offset + size)) for name, offset, size in PACKET_HEADER}


class AXI4Signature(wiring.Signature):  # type: ignore[misc]
    """AXI4 as seen from the master: the members the shells' DMA_PCIS port has in
    common (F2 adds ``AxBURST``, ``AxCACHE``, ``WID``, user bits, ...; unused here).
    ``sizes`` adds ``AxSIZE`` and ``AxBURST`` (not decoded), which cocotbext-axi's
    master requires."""

    def __init__(self, addr_bits: int = 64, data_bits: int = DATA_BITS,
                 id_bits: int = 16, sizes: bool = False) -> None:
        self.addr_bits, self.data_bits, self.id_bits = addr_bits, data_bits, id_bits
        extra = {f"{x}{m}": Out(w) for x in ("aw", "ar") for m, w in (("size", 3), ("burst", 2))}
        super().__init__({**(extra if sizes else {}),
            "awid": Out(id_bits), "awaddr": Out(addr_bits), "awlen": Out(8),
            "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_bits), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "arid": Out(id_bits), "araddr": Out(addr_bits), "arlen": Out(8),
            "arvalid": Out(1), "arready": In(1),
            "rid": In(id_bits), "rdata": In(data_bits), "rresp": In(2), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })


class RecordRing(wiring.Component):  # type: ignore[misc]
    """A ring of ``depth`` records: written from a stream (``ready`` low when full),
    read by slot with one cycle of latency, freed ``pop`` at a time on ``pop_stb``."""

    def __init__(self, width: int, depth: int = RING_RECORDS) -> None:
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"ring depth {depth} is not a power of two >= 2")
        self.width, self.depth = width, depth
        super().__init__({
            "i": In(stream.Signature(width)),
            "count": Out(range(depth + 1)),
            "tail": Out(range(depth)),
            "pop": In(range(depth + 1)),
            "pop_stb": In(1),
            "read_addr": In(range(depth)),
            "read_en": In(1),
            "read_data": Out(width),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.slots = slots = memory.Memory(shape=self.width, depth=self.depth, init=[])
        write = slots.write_port()
        read = slots.read_port(transparent_for=())
        head = Signal(range(self.depth))
        push = Signal()
        popped = Signal(range(self.depth + 1))
        m.d.comb += [
            self.i.ready.eq(self.count < self.depth),
            push.eq(self.i.valid & self.i.ready),
            write.addr.eq(head), write.data.eq(self.i.payload), write.en.eq(push),
            read.addr.eq(self.read_addr), read.en.eq(self.read_en),
            self.read_data.eq(read.data),
        ]
        with m.If(self.pop_stb):  # never more than there is
            m.d.comb += popped.eq(Mux(self.pop > self.count, self.count, self.pop))
        m.d.sync += [self.count.eq(self.count + push - popped),
                     self.tail.eq(self.tail + popped)]
        with m.If(push):
            m.d.sync += head.eq(head + 1)
        return m


def _lanes(strobe: Signal) -> Cat:
    """A byte strobe widened to a bit mask."""
    return Cat(*(strobe[i].replicate(8) for i in range(len(strobe))))


class PcisAdapter(wiring.Component):  # type: ignore[misc]
    """PCIS (AXI4 slave) to the feed parser's and the risk pipeline's streams and back."""

    def __init__(self, id_bits: int = 16, ring_records: int = RING_RECORDS, *,
                 sizes: bool = False) -> None:
        """``sizes``: give ``pcis`` the (ignored) ``AxSIZE``/``AxBURST`` inputs, for
        cocotbext-axi."""
        self.id_bits, self.ring_records = id_bits, ring_records
        count = range(ring_records + 1)
        super().__init__({
            "pcis": In(AXI4Signature(id_bits=id_bits, sizes=sizes)),
            "feed": Out(stream.Signature(beat_layout(FEED_BYTES))),
            "orders": Out(stream.Signature(ORDER.bits)),
            "updates": Out(stream.Signature(UPDATE.bits)),
            "records": In(stream.Signature(BOOK_EVENT_LAYOUT.size)),
            "decisions": In(stream.Signature(DECISION.bits)),
            "records_ready": Out(32), "records_tail": Out(32),
            "decisions_ready": Out(32), "decisions_tail": Out(32),
            "records_pop": In(count), "records_pop_stb": In(1),
            "decisions_pop": In(count), "decisions_pop_stb": In(1),
            "write_errors": Out(32), "read_errors": Out(32),
            "framing_errors": Out(32), "stall_cycles": Out(32),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        self._write_side(m)
        self._read_side(m)
        return m

    # --- host -> cores -------------------------------------------------------------------

    def _write_side(self, m: Module) -> None:
        bus = self.pcis
        windows = (PACKET_WINDOW, ORDER_WINDOW, UPDATE_WINDOW)
        error = len(windows)
        window = Signal(range(error + 1))
        busy, respond = Signal(), Signal()
        bid = Signal(self.id_bits)

        # per window: a beat being assembled and which of its bytes have been written
        data = [Signal(DATA_BITS, name=f"beat{k}") for k in range(len(windows))]
        mask = [Signal(BEAT_BYTES, name=f"mask{k}") for k in range(len(windows))]
        full = [Signal(name=f"full{k}") for k in range(len(windows))]
        consume = [Signal(name=f"consume{k}") for k in range(len(windows))]
        m.d.comb += [full[k].eq(mask[k].all()) for k in range(len(windows))]

        # AW: one burst at a time, window from its start address
        m.d.comb += bus.awready.eq(~busy & ~respond)
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [busy.eq(1), bid.eq(bus.awid), window.eq(error)]
            for k, base in enumerate(windows):
                with m.If(bus.awaddr[WINDOW_SHIFT:] == base >> WINDOW_SHIFT):
                    m.d.sync += window.eq(k)
            with m.If(~(bus.awaddr[WINDOW_SHIFT:] < len(windows))):
                m.d.sync += self.write_errors.eq(self.write_errors + 1)

        # W: merge by strobe; held off while the window's complete beat waits
        room = Signal()
        m.d.comb += room.eq(1)
        for k in range(len(windows)):
            with m.If(window == k):
                m.d.comb += room.eq(~full[k] | consume[k])
        m.d.comb += bus.wready.eq(busy & room)
        accept = Signal()
        m.d.comb += accept.eq(bus.wvalid & bus.wready)
        lanes = _lanes(bus.wstrb)
        for k in range(len(windows)):
            with m.If(accept & (window == k)):
                m.d.sync += [data[k].eq(data[k] & ~lanes | bus.wdata & lanes),
                             mask[k].eq(Mux(consume[k], 0, mask[k]) | bus.wstrb)]
            with m.Elif(consume[k]):
                m.d.sync += mask[k].eq(0)
        with m.If(busy & bus.wvalid & ~room):
            m.d.sync += self.stall_cycles.eq(self.stall_cycles + 1)
        with m.If(accept & bus.wlast):
            m.d.sync += [busy.eq(0), respond.eq(1)]

        # B
        m.d.comb += [bus.bvalid.eq(respond), bus.bid.eq(bid),
                     bus.bresp.eq(Mux(window == error, SLVERR, OKAY))]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += respond.eq(0)

        # orders and updates: a complete beat is a record
        for k, out, bits in ((1, self.orders, ORDER.bits), (2, self.updates, UPDATE.bits)):
            m.d.comb += [out.valid.eq(full[k]), out.payload.eq(data[k][:bits]),
                         consume[k].eq(full[k] & out.ready)]

        self._packets(m, data[0], full[0], consume[0])

    def _packets(self, m: Module, beat: Signal, full: Signal, consume: Signal) -> None:
        """Header beats set the payload length; payload beats go out 8 bytes at a time."""
        remaining = Signal(range(MAX_PACKET_BYTES + 1))  # payload bytes not yet loaded
        shifter = Signal(DATA_BITS)
        held = Signal(range(BEAT_BYTES + 1))  # payload bytes in the shifter
        last_beat = Signal()
        out = self.feed
        word_bytes = FEED_BYTES
        m.d.comb += [
            out.valid.eq(held != 0),
            out.payload.data.eq(shifter[:8 * word_bytes]),
            out.payload.keep.eq(Mux(held >= word_bytes, (1 << word_bytes) - 1,
                                    (Const(1, word_bytes + 1) << held[:3]) - 1)),
            out.payload.last.eq(last_beat & (held <= word_bytes)),
        ]
        sent = Signal()
        m.d.comb += sent.eq(out.valid & out.ready)
        can_load = Signal()
        m.d.comb += can_load.eq((held == 0) | (sent & (held <= word_bytes)))
        is_header = Signal()
        m.d.comb += [is_header.eq(remaining == 0),
                     consume.eq(full & (is_header | can_load))]
        with m.If(sent):
            m.d.sync += [shifter.eq(shifter >> (8 * word_bytes)),
                         held.eq(Mux(held > word_bytes, held - word_bytes, 0))]

        length = beat[_HEADER["length"][0]:_HEADER["length"][1]]
        magic = beat[_HEADER["magic"][0]:_HEADER["magic"][1]]
        with m.If(consume & is_header):
            with m.If((magic == PACKET_MAGIC) & (length != 0) & (length <= MAX_PACKET_BYTES)):
                m.d.sync += remaining.eq(length)
            with m.Else():
                m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
        with m.If(consume & ~is_header):
            take = Mux(remaining > BEAT_BYTES, BEAT_BYTES, remaining)
            m.d.sync += [shifter.eq(beat), held.eq(take), remaining.eq(remaining - take),
                         last_beat.eq(remaining <= BEAT_BYTES)]

    # --- cores -> host -------------------------------------------------------------------

    def _read_side(self, m: Module) -> None:
        bus = self.pcis
        rings = []
        for name, source, width in (("record_ring", self.records, BOOK_EVENT_LAYOUT.size),
                                    ("decision_ring", self.decisions, DECISION.bits)):
            ring = RecordRing(width, self.ring_records)
            m.submodules[name] = ring
            wiring.connect(m, wiring.flipped(source), ring.i)
            rings.append(ring)
        records, decisions = rings
        m.d.comb += [
            self.records_ready.eq(records.count), self.records_tail.eq(records.tail),
            records.pop.eq(self.records_pop), records.pop_stb.eq(self.records_pop_stb),
            self.decisions_ready.eq(decisions.count), self.decisions_tail.eq(decisions.tail),
            decisions.pop.eq(self.decisions_pop), decisions.pop_stb.eq(self.decisions_pop_stb),
        ]

        slot_bits = (self.ring_records - 1).bit_length()
        window = Signal(range(3))  # 0 records, 1 decisions, 2 error
        slot = Signal(slot_bits)
        beats_left = Signal(8)
        rid = Signal(self.id_bits)
        with m.FSM(name="read"):
            with m.State("IDLE"):
                m.d.comb += bus.arready.eq(1)
                with m.If(bus.arvalid):
                    top = bus.araddr[WINDOW_SHIFT:]
                    m.d.sync += [rid.eq(bus.arid), beats_left.eq(bus.arlen), window.eq(2),
                                 slot.eq(bus.araddr[_BEAT_SHIFT:_BEAT_SHIFT + slot_bits])]
                    with m.If(top == RECORD_WINDOW >> WINDOW_SHIFT):
                        m.d.sync += window.eq(0)
                    with m.Elif(top == DECISION_WINDOW >> WINDOW_SHIFT):
                        m.d.sync += window.eq(1)
                    with m.Else():
                        m.d.sync += self.read_errors.eq(self.read_errors + 1)
                    m.next = "FETCH"
            with m.State("FETCH"):  # one cycle: the slot's memory read
                for ring in rings:
                    m.d.comb += [ring.read_addr.eq(slot), ring.read_en.eq(1)]
                m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [bus.rvalid.eq(1), bus.rid.eq(rid), bus.rlast.eq(beats_left == 0)]
                with m.Switch(window):
                    with m.Case(0):
                        m.d.comb += bus.rdata.eq(records.read_data)
                    with m.Case(1):
                        m.d.comb += bus.rdata.eq(decisions.read_data)
                    with m.Default():
                        m.d.comb += bus.rresp.eq(SLVERR)
                with m.If(bus.rready):
                    m.d.sync += [beats_left.eq(beats_left - 1), slot.eq(slot + 1)]
                    m.next = "FETCH"
                    with m.If(beats_left == 0):
                        m.next = "IDLE"
