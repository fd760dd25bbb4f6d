"""The feed parser core: MoldUDP64 payload beats in, one BookEvent record per message out.

Pipeline (``W`` bytes per beat; the numbers are cycles after the beat carrying
a message's last byte is taken on ``i``)::

    i --> [beat register] --> framer --> [event register] --> decode/sequence --> [o] (3)
                               |  writes each body byte at its message offset
                               |  into ``body`` (no barrel shifter: byte j of the
                               |  message comes from lane (start + j) mod W)
                               '--> filter table read (locate), answer in the next stage

* Framer: the MoldUDP64 header (session, sequence number, count), then one
  ``[u16 length][message]`` block after another, at any lane, across beats. It
  handles at most one block end per cycle. A valid block is at least 14 bytes,
  so with ``W`` = 8 that is never a limit; a beat holding several malformed
  blocks (length 0..5) is held for a cycle per block (counted in ``stalls``).
* Decode/sequence: message type and length checks (faults), the BookEvent
  columns from :data:`nanogate.proto.records.BOOK_EVENT_SOURCES`, sequence
  tracking (GAP/DUPLICATE flags), the instrument filter, every counter.

The semantics are the software model's (``nanogate.gateway.feed.fast``):
fault by fault, sequence number by sequence number; tests hold them equal.

Beats: ``keep`` is all ones but on a packet's last beat, where it is a run of
ones from lane 0 (AXI-Stream "packed" data, what a MAC or DMA delivers).
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.layouts import BOOK_EVENT_LAYOUT, beat_layout
from nanogate.proto.feed_regs import COUNTERS, LOCATE_BITS
from nanogate.proto.itch import MESSAGES
from nanogate.proto.moldudp64 import END_OF_SESSION_COUNT, HEADER
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_SOURCES, EventFlags
from nanogate.proto.wire import WireField

__all__ = ["HEADER_BYTES", "MAX_MESSAGE", "FeedParser"]

HEADER_BYTES = HEADER.length  # 20
#: Longest ITCH 5.0 message: the body bytes the parser keeps (longer ones are faults).
MAX_MESSAGE = max(spec.length for spec in MESSAGES.values())
_SESSION = HEADER.field("session")
_SEQUENCE = HEADER.field("sequence_number")
_COUNT = HEADER.field("message_count")
# Positions relative to a beat: a 16-bit length and a few beats of slack, signed.
_REL = signed(19)


def _or(terms: list[object]) -> object:
    """The OR of the terms (at most one is non-zero: the types are exclusive)."""
    result = terms[0]
    for term in terms[1:]:
        result = result | term  # type: ignore[operator]
    return result


def _be(byte_list: Sequence[Value]) -> Value:
    """Big-endian bytes (first byte most significant) as one value."""
    return Cat(*reversed(byte_list))


class FeedParser(wiring.Component):  # type: ignore[misc]
    """MoldUDP64 payloads (``i``, one packet per ``last``) to BookEvents (``o``).

    Register-side ports (driven by / driving a :class:`nanogate.hw.axil.RegisterBank`
    of :data:`nanogate.proto.feed_regs.FEED_REGS`): ``filter_enable``,
    ``filter_write`` + ``filter_write_stb``, and one ``Out`` per counter.
    """

    def __init__(self, data_bytes: int = 8, filter_depth: int = 1 << LOCATE_BITS) -> None:
        if data_bytes < 2 or data_bytes & (data_bytes - 1):
            raise ValueError(f"data_bytes must be a power of two >= 2, not {data_bytes}")
        if not 1 <= filter_depth <= 1 << LOCATE_BITS:
            raise ValueError(f"filter_depth must be 1..{1 << LOCATE_BITS}")
        self.data_bytes = data_bytes
        self.filter_depth = filter_depth
        members: dict[str, object] = {
            "i": In(stream.Signature(beat_layout(data_bytes))),
            "o": Out(stream.Signature(BOOK_EVENT_LAYOUT)),
            "filter_enable": In(1),
            "filter_write": In(LOCATE_BITS + 1),
            "filter_write_stb": In(1),
        }
        for register in COUNTERS:
            members[register.name] = Out(register.width)
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        W = self.data_bytes  # noqa: N806 - the beat width, as in the docs
        lane_bits = (W - 1).bit_length()

        # Everything moves when the output register is free: o.valid comes from a
        # flop and the only combinational path is o.ready -> i.ready.
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # --- beat register ---------------------------------------------------------
        b_valid = Signal()
        beat = Signal(beat_layout(W))
        hold = Signal()  # the beat frames another block next cycle: keep it
        m.d.comb += self.i.ready.eq(advance & ~(b_valid & hold))
        with m.If(self.i.ready):
            m.d.sync += [b_valid.eq(self.i.valid), beat.eq(self.i.payload)]
        with m.If(self.i.valid & ~self.i.ready):
            m.d.sync += self.stalls.eq(self.stalls + 1)

        lanes = [beat.data[8 * k:8 * k + 8] for k in range(W)]
        lane_at = Array(lanes)
        n = Signal(range(W + 1))  # bytes in this beat
        m.d.comb += n.eq(Mux(beat.last, sum(beat.keep[k] for k in range(W)), W))

        # --- MoldUDP64 header: byte h arrives in beat h // W, lane h % W ----------
        header_beat = (HEADER_BYTES - 1) // W
        beat_no = Signal(range(header_beat + 2))  # saturates past the header
        header = [Signal(8, name=f"header{h}") for h in range(HEADER_BYTES)]
        header_now: list[Value] = []  # this cycle's view: the captured byte or the lane carrying it
        for h in range(HEADER_BYTES):
            here = beat_no == h // W
            header_now.append(Mux(here, lanes[h % W], header[h]))
            with m.If(advance & b_valid & here):
                m.d.sync += header[h].eq(lanes[h % W])

        def header_field(f: WireField) -> Value:
            return _be(header_now[f.offset:f.offset + f.width])

        session_now = header_field(_SESSION)
        base_now = header_field(_SEQUENCE)
        count_now = header_field(_COUNT)

        at_header = b_valid & (beat_no == header_beat)
        header_done = Signal()  # this beat completes the header of a long-enough packet
        short = Signal()
        m.d.comb += [
            header_done.eq(at_header & (n > (HEADER_BYTES - 1) % W)),
            short.eq(b_valid & beat.last & (beat_no < header_beat)
                     | at_header & beat.last & ~header_done),
        ]
        end_of_session = Signal()
        heartbeat = Signal()
        m.d.comb += [end_of_session.eq(count_now == END_OF_SESSION_COUNT),
                     heartbeat.eq(count_now == 0)]
        last_session = Signal(8 * _SESSION.width)
        have_session = Signal()
        new_session = Signal()
        m.d.comb += new_session.eq(~have_session | (last_session != session_now))

        # --- block framing ------------------------------------------------------------
        framing = Signal()  # header seen: bytes now belong to blocks (or trail)
        count = Signal(16)  # blocks announced (0 for end of session)
        blocks = Signal(16)  # blocks whose length prefix was read
        next_seq = Signal(64)  # sequence number of the next block
        block_rel = Signal(_REL)  # where the next prefix starts, relative to this beat
        active = Signal()  # a block was started and has not ended yet (it ends at block_rel)
        cur_len = Signal(16)
        cur_seq = Signal(64)
        prev_byte = Signal(8)  # last lane of the previous beat: a prefix may straddle

        in_blocks = Signal()
        blocks_now = Signal(16)  # the count left by the last packet is not this one's
        m.d.comb += blocks_now.eq(Mux(framing, blocks, 0))
        cnt = Signal(16)
        seq_base = Signal(64)
        m.d.comb += [
            in_blocks.eq(b_valid & (framing | header_done)),
            cnt.eq(Mux(framing, count, Mux(end_of_session, 0, count_now))),
            seq_base.eq(Mux(framing, next_seq, base_now)),
        ]
        rel_start = Const(HEADER_BYTES - header_beat * W, _REL)
        rel = Signal(_REL)  # block_rel as seen by this cycle (the first one is fixed)
        m.d.comb += rel.eq(Mux(framing, block_rel, rel_start))

        complete = Signal()
        m.d.comb += complete.eq(in_blocks & active & (rel <= n))
        start = Signal()
        m.d.comb += start.eq(in_blocks & (~active | complete) & (blocks_now < cnt)
                             & (rel + 2 <= n))
        # The prefix: rel is in -1 .. W-2 when start is true.
        rel_low = rel[:lane_bits]
        prefix_hi = Mux(rel < 0, prev_byte, lane_at[rel_low])
        prefix_lo = lane_at[(rel + 1)[:lane_bits]]
        length = Signal(16)
        m.d.comb += length.eq(Cat(prefix_lo, prefix_hi))
        body_rel = Signal(_REL)
        m.d.comb += body_rel.eq(rel + 2)

        active_next = Signal()
        rel_next = Signal(_REL)
        m.d.comb += [
            active_next.eq(Mux(start, 1, active & ~complete)),
            rel_next.eq(Mux(start, body_rel + length, rel)),
            hold.eq(in_blocks & active_next & (rel_next <= n)),
        ]
        blocks_next = Signal(16)
        m.d.comb += blocks_next.eq(blocks_now + start)
        consumed = Signal()  # the beat leaves the register at this edge
        m.d.comb += consumed.eq(advance & b_valid & ~hold)

        # Body bytes: byte j of a block whose body starts at lane r of beat s is lane
        # (r + j) mod W of beat s + (r + j) // W. `body_beat` counts beats from s, +1
        # (0: the body starts in the next beat), saturating past the longest message.
        beats_max = (MAX_MESSAGE - 1 + W - 1) // W + 2
        body_lane = Signal(lane_bits)
        body_beat = Signal(range(beats_max + 1))
        new_lane = Signal(lane_bits)
        new_beat = Signal(range(beats_max + 1))
        m.d.comb += [new_lane.eq(body_rel[:lane_bits]),
                     new_beat.eq(Mux(body_rel < W, 1, 0))]
        # One rotator per block in flight: lane i of `cur_rot` is body byte i (mod W).
        cur_rot = [Signal(8, name=f"cur_rot{i}") for i in range(W)]
        new_rot = [Signal(8, name=f"new_rot{i}") for i in range(W)]
        for i in range(W):
            m.d.comb += [cur_rot[i].eq(lane_at[(body_lane + i)[:lane_bits]]),
                         new_rot[i].eq(lane_at[(new_lane + i)[:lane_bits]])]
        # Body byte j is in this beat when j // W plus the lane wrap matches the beat count.
        cur_wraps = [Signal(name=f"cur_wraps{i}") for i in range(W)]
        new_wraps = [Signal(name=f"new_wraps{i}") for i in range(W)]
        for i in range(W):
            m.d.comb += [cur_wraps[i].eq(body_lane >= W - i) if i else cur_wraps[i].eq(0),
                         new_wraps[i].eq(new_lane >= W - i) if i else new_wraps[i].eq(0)]
        body = [Signal(8, name=f"body{j}") for j in range(MAX_MESSAGE)]
        assembled = []  # the completing block's bytes, this beat's lanes merged in
        for j in range(MAX_MESSAGE):
            cur_here = Signal(name=f"cur_here{j}")
            new_here = Signal(name=f"new_here{j}")
            cur_byte = cur_rot[j % W]
            new_byte = new_rot[j % W]
            m.d.comb += [
                cur_here.eq(active & (body_beat == j // W + 1 + cur_wraps[j % W])),
                new_here.eq(start & (new_beat == j // W + 1 + new_wraps[j % W])),
            ]
            assembled.append(Mux(cur_here, cur_byte, body[j]))
            with m.If(advance & b_valid):
                with m.If(new_here):
                    m.d.sync += body[j].eq(new_byte)
                with m.Elif(cur_here):
                    m.d.sync += body[j].eq(cur_byte)

        # --- packet end: what the last beat leaves unfinished ------------------------
        packet_end = Signal()
        truncated = Signal()
        trailing = Signal()
        m.d.comb += [
            packet_end.eq(b_valid & beat.last & ~hold),
            # a block cut off, or a prefix missing, before `count` blocks were read
            truncated.eq(packet_end & in_blocks
                         & (active_next | (blocks_next < cnt))),
            trailing.eq(packet_end & in_blocks & ~active_next & (blocks_next == cnt)
                        & (rel_next < n)),
        ]

        with m.If(advance & b_valid):
            with m.If(~hold):
                m.d.sync += prev_byte.eq(lanes[W - 1])
            with m.If(header_done):
                m.d.sync += [framing.eq(1), count.eq(cnt)]
                with m.If(~end_of_session):
                    m.d.sync += [last_session.eq(session_now), have_session.eq(1)]
            with m.If(in_blocks):
                m.d.sync += [blocks.eq(blocks_next), active.eq(active_next),
                             block_rel.eq(rel_next - Mux(hold, 0, W))]
                with m.If(start):
                    m.d.sync += [next_seq.eq(seq_base + 1), cur_seq.eq(seq_base),
                                 cur_len.eq(length), body_lane.eq(new_lane),
                                 body_beat.eq(new_beat + ~hold)]
                with m.Elif(~hold & (body_beat != beats_max)):
                    m.d.sync += body_beat.eq(body_beat + 1)
            with m.If(~hold & ~beat.last & (beat_no <= header_beat)):
                m.d.sync += beat_no.eq(beat_no + 1)
            with m.If(packet_end):
                m.d.sync += [beat_no.eq(0), framing.eq(0), active.eq(0)]

        # --- event register -------------------------------------------------------------
        ev = Signal(data.StructLayout({
            "block": 1, "length": 16, "seq": 64,
            "header": 1, "new_session": 1, "heartbeat": 1, "base": 64,
            "packet": 1, "end_of_session": 1, "truncated": 1, "trailing": 1, "short": 1,
        }))
        ev_body = [Signal(8, name=f"ev_body{j}") for j in range(MAX_MESSAGE)]
        with m.If(advance):
            m.d.sync += [
                ev.block.eq(complete),
                ev.length.eq(cur_len),
                ev.seq.eq(cur_seq),
                ev.header.eq(header_done & ~end_of_session),
                ev.new_session.eq(new_session),
                ev.heartbeat.eq(heartbeat),
                ev.base.eq(base_now),
                ev.packet.eq(packet_end),
                ev.end_of_session.eq(header_done & end_of_session),
                ev.truncated.eq(truncated),
                ev.trailing.eq(trailing),
                ev.short.eq(short),
            ]
            with m.If(complete):
                m.d.sync += [ev_body[j].eq(assembled[j]) for j in range(MAX_MESSAGE)]

        # Filter table: one bit per stock locate, read while the message completes.
        table = memory.Memory(shape=1, depth=self.filter_depth, init=[])
        m.submodules.filter_table = table
        write = table.write_port()
        read = table.read_port(transparent_for=())
        locate_now = _be(assembled[1:3])
        m.d.comb += [
            write.addr.eq(self.filter_write[:LOCATE_BITS]),
            write.data.eq(self.filter_write[LOCATE_BITS]),
            write.en.eq(self.filter_write_stb
                        & (self.filter_write[:LOCATE_BITS] < self.filter_depth)),
            read.addr.eq(locate_now),
            read.en.eq(advance),
        ]
        ev_in_table = Signal()
        with m.If(advance):
            m.d.sync += ev_in_table.eq(locate_now < self.filter_depth)

        # --- decode, sequence, filter ----------------------------------------------------
        msg_type = ev_body[0]
        is_type = {t: Signal(name=f"is_{'lower_' if t.islower() else ''}{t}")
                   for t in MESSAGES}
        for t, sig in is_type.items():
            m.d.comb += sig.eq(msg_type == ord(t))
        known = Signal()
        right_length = Signal()
        m.d.comb += [
            known.eq(Cat(*is_type.values()).any()),
            right_length.eq(Cat(*(is_type[t] & (ev.length == spec.length)
                                  for t, spec in MESSAGES.items())).any()),
        ]
        bad_length = Signal()
        unknown_type = Signal()
        good = Signal()
        m.d.comb += [
            bad_length.eq(ev.block & ((ev.length == 0) | known & ~right_length)),
            unknown_type.eq(ev.block & (ev.length != 0) & ~known),
            good.eq(ev.block & (ev.length != 0) & right_length),
        ]

        expected = Signal(64)
        synced = Signal()
        synced_now = Signal()
        m.d.comb += synced_now.eq(synced & ~(ev.header & ev.new_session))
        heartbeat_ev = ev.header & ev.heartbeat
        gap = Signal()
        duplicate = Signal()
        heartbeat_gap = Signal()
        m.d.comb += [
            gap.eq(good & synced_now & (ev.seq > expected)),
            duplicate.eq(good & synced_now & (ev.seq < expected)),
            heartbeat_gap.eq(heartbeat_ev & synced_now & (ev.base > expected)),
        ]
        jump = Signal(64)  # sequence numbers skipped, added to `missing` a cycle later
        m.d.sync += jump.eq(0)
        with m.If(advance):
            m.d.sync += synced.eq(synced_now)
            with m.If(heartbeat_ev & (~synced_now | (ev.base > expected))):
                m.d.sync += [expected.eq(ev.base), synced.eq(1)]
            with m.If(ev.block & (~synced_now | (ev.seq >= expected))):
                m.d.sync += [expected.eq(ev.seq + 1), synced.eq(1)]
            with m.If(gap):
                m.d.sync += jump.eq(ev.seq - expected)
            with m.If(heartbeat_gap):
                m.d.sync += jump.eq(ev.base - expected)
        missing_sum = Signal(65)
        m.d.comb += missing_sum.eq(self.missing + jump)
        m.d.sync += self.missing.eq(Mux(missing_sum[64], (1 << 64) - 1, missing_sum[:64]))

        passes = Signal()
        m.d.comb += passes.eq(~self.filter_enable | (ev_in_table & read.data))

        record = Signal(BOOK_EVENT_LAYOUT)
        m.d.comb += [
            record.seq.eq(ev.seq),
            record.msg_type.eq(msg_type),
            record.flags.eq(Mux(gap, int(EventFlags.GAP), 0)
                            | Mux(duplicate, int(EventFlags.DUPLICATE), 0)),
        ]
        common = {"timestamp": "timestamp", "stock_locate": "stock_locate"}
        for column in BOOK_EVENT.fields:
            if column.name in ("seq", "msg_type", "flags"):
                continue
            # group the types by where the column's bytes sit, so each place is one term
            places: dict[tuple[int, int], list[str]] = {}
            for t, spec in MESSAGES.items():
                source = common.get(column.name) or BOOK_EVENT_SOURCES[t].get(column.name)
                if source is None:
                    continue
                wire = spec.wire.field(source)
                places.setdefault((wire.offset, wire.width), []).append(t)
            terms = []
            for (offset, width), types in places.items():
                value = _be(ev_body[offset:offset + width])
                if column.kind == "ascii" and column.bits > 8 * width:  # NUL pad after
                    value = Cat(Const(0, column.bits - 8 * width), value)
                chosen = Cat(*(is_type[t] for t in types)).any()
                terms.append(Mux(chosen, value, 0))
            m.d.comb += getattr(record, column.name).eq(_or(terms) if terms else 0)

        with m.If(advance):
            m.d.sync += [self.o.valid.eq(good & passes), self.o.payload.eq(record)]

        # --- counters ----------------------------------------------------------------------
        def count_when(counter: Signal, condition: object) -> None:
            with m.If(advance & condition):
                m.d.sync += counter.eq(counter + 1)

        count_when(self.packets, ev.packet)
        count_when(self.messages, good)
        count_when(self.records, good & passes)
        count_when(self.filtered, good & ~passes)
        count_when(self.heartbeats, heartbeat_ev)
        count_when(self.end_of_session, ev.end_of_session)
        count_when(self.truncated, ev.truncated)
        count_when(self.unknown_type, unknown_type)
        count_when(self.bad_length, bad_length)
        count_when(self.trailing_bytes, ev.trailing)
        count_when(self.short_packet, ev.short)
        count_when(self.gaps, gap | heartbeat_gap)
        count_when(self.duplicates, duplicate)
        return m
