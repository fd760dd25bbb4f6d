"""The feed parser core: MoldUDP64 payload beats in, one BookEvent record per message out.

Pipeline (``W`` bytes per beat; the numbers are cycles after the beat carrying
a message's last byte is taken on ``i``)::

    i --> [skid] --> precompute --> [beat register] --> framer --> [event register] -->
                     per prefix lane:           |  writes each body byte at its offset in
                     length, end, ends-here,    |  ``body`` (no barrel shifter: byte j of a
                     length code; per lane:     |  message is lane (start + j) mod W)
                     type code                  '--> filter table read (locate)

        --> decode/sequence --> [o] (3) --> counters (4)

* Skid: ``i.ready`` is a flop (the skid buffer is empty); a beat offered while
  the beat register cannot move waits there. Nothing combinational reaches
  ``i.ready`` from ``o.ready`` or from the framer.
* Precompute (on the beat being loaded): for every lane a length prefix may
  start on (and the one straddling from the previous beat), where the block
  ends relative to the next beat, whether it ends in this beat, and its length
  as a code of :data:`LENGTHS`; for every lane, its byte as a type code; the
  header beat's count flags (end of session, heartbeat, 1 / 2 / 3 or more
  blocks); ``ge[k]``, "the beat has at least k bytes". Compares are split at
  the lane bits (a table on the low bits, equality on the high ones) and
  lookups are constant ROM reads, so no carry chain sits in front of a
  decision. The framer's loop is then a lane select and a few ANDs.
* Framer: the MoldUDP64 header (session, sequence number, count), then one
  ``[u16 length][message]`` block after another, at any lane, across beats. It
  handles at most one block end per cycle. A valid block is at least 14 bytes,
  so with ``W`` = 8 that is never a limit; a beat holding several malformed
  blocks (length 0..5), or at wider beats several messages, is held for a
  cycle per extra block (counted in ``stalls``).
* Decode/sequence: from the two codes, the type one-hot and the length check
  (faults) are one LUT level each; the BookEvent columns from
  :data:`nanogate.proto.records.BOOK_EVENT_SOURCES`, sequence tracking
  (GAP/DUPLICATE flags), the instrument filter. Every counter steps a cycle
  later, from a registered enable (they are not on the record's path).

The semantics are the software model's (``nanogate.gateway.feed.fast``):
fault by fault, sequence number by sequence number; tests hold them equal.

Beats: ``keep`` is all ones but on a packet's last beat, where it is a run of
ones from lane 0 (AXI-Stream "packed" data, what a MAC or DMA delivers).
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.layouts import BOOK_EVENT_LAYOUT, beat_layout
from nanogate.proto.feed_regs import COUNTERS, LOCATE_BITS
from nanogate.proto.itch import MESSAGES
from nanogate.proto.moldudp64 import END_OF_SESSION_COUNT, HEADER
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_SOURCES, EventFlags
from nanogate.proto.wire import WireField

__all__ = ["HEADER_BYTES", "MAX_MESSAGE", "SUPPORTED_DATA_BYTES", "FeedParser"]

HEADER_BYTES = HEADER.length  # 20
#: Beat widths in bytes (16 to 512 bits). Wider would elaborate, but is untested.
SUPPORTED_DATA_BYTES = (2, 4, 8, 16, 32, 64)
#: Longest ITCH 5.0 message: the body bytes the parser keeps (longer ones are faults).
MAX_MESSAGE = max(spec.length for spec in MESSAGES.values())
_SESSION = HEADER.field("session")
_SEQUENCE = HEADER.field("sequence_number")
_COUNT = HEADER.field("message_count")
# Positions relative to a beat: a 16-bit length and a few beats of slack, signed.
_REL = signed(19)
#: The message lengths of ITCH 5.0, each with its types. A block's length is kept as a
#: length code (index here + 1; 0: no type has that length) and its type byte as a type
#: code (index in MESSAGES + 1; 0: no type), both looked up per byte lane as the beat
#: arrives, so that the decode stage starts from 5-bit codes: its type one-hot and
#: length check are one LUT level each, not 8- and 16-bit compares per type.
LENGTHS: dict[int, list[str]] = {}
for _type, _spec in MESSAGES.items():
    LENGTHS.setdefault(_spec.length, []).append(_type)
LENGTHS = dict(sorted(LENGTHS.items()))
assert max(LENGTHS) < 256  # a valid length has a zero high byte
_CODE_BITS = max(len(LENGTHS), len(MESSAGES)).bit_length()
_LENGTH_CODE = {n: code for code, n in enumerate(LENGTHS, start=1)}
_TYPE_CODE = {ord(t): code for code, t in enumerate(MESSAGES, start=1)}
_TYPE_LENGTH = {code: _LENGTH_CODE[MESSAGES[t].length]
                for code, t in enumerate(MESSAGES, start=1)}


def _or(terms: list[object]) -> object:
    """The OR of the terms (at most one is non-zero: the types are exclusive)."""
    result = terms[0]
    for term in terms[1:]:
        result = result | term  # type: ignore[operator]
    return result


def _pick(values: Sequence[Value | int], index: Value, width: int = 1) -> Value:
    """``values[index]`` as a shift of their concatenation: a mux tree (LUTs and
    MUXF7/F8) rather than a case statement's priority logic."""
    return Cat(*(Const(v, width) if isinstance(v, int) else v for v in values)).word_select(
        index, width)


def _lookup(m: Module, byte: Value, table: dict[int, int], name: str) -> Signal:
    """``table[byte]`` (0 when absent) as a constant ROM read: one LUT function of the byte."""
    out = Signal(_CODE_BITS, name=name)
    m.d.comb += out.eq(_pick([table.get(v, 0) for v in range(1 << len(byte))], byte,
                             _CODE_BITS))
    return out


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
        if data_bytes not in SUPPORTED_DATA_BYTES:
            raise ValueError(f"data_bytes must be a power of two from 2 to 64 (16 to 512 "
                             f"bits), not {data_bytes}")
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

        # Everything moves when the output register is free: o.valid comes from a flop.
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # --- input skid buffer + beat register ---------------------------------------
        # i.ready comes from a flop (the skid is empty), so neither back-pressure nor the
        # framer's "hold this beat" reaches the input combinationally. A beat offered
        # while the beat register cannot take it waits in the skid; the skid drains
        # first, so order is kept and nothing is lost or taken twice.
        skid_valid = Signal()
        skid = Signal(beat_layout(W))
        b_valid = Signal()
        beat = Signal(beat_layout(W))
        hold = Signal()  # the beat frames another block next cycle: keep it
        load = Signal()  # the beat register takes the next beat (it is empty or leaves)
        m.d.comb += [self.i.ready.eq(~skid_valid),
                     load.eq(~b_valid | advance & ~hold)]
        incoming = Signal(beat_layout(W))
        m.d.comb += incoming.eq(Mux(skid_valid, skid, self.i.payload))
        with m.If(load):
            m.d.sync += [b_valid.eq(skid_valid | self.i.valid), beat.eq(incoming),
                         skid_valid.eq(0)]
        with m.Elif(self.i.valid & ~skid_valid):
            m.d.sync += [skid_valid.eq(1), skid.eq(self.i.payload)]
        with m.If(self.i.valid & ~self.i.ready):
            m.d.sync += self.stalls.eq(self.stalls + 1)

        lanes = [beat.data[8 * k:8 * k + 8] for k in range(W)]
        prev_byte = Signal(8)  # last lane of the previous beat: a prefix may straddle

        # --- precomputed with the beat: one cycle early, from the beat being loaded -----
        # Prefix candidates: index k is the prefix starting at lane k, and k = W-1 the one
        # straddling from the previous beat's last lane (position -1). For each, the
        # framer needs only a few bits, so the length adder and its compares sit in
        # front of the beat register, not in the framer's loop.
        in_lanes = [incoming.data[8 * k:8 * k + 8] for k in range(W)]
        in_prev = Mux(b_valid, lanes[W - 1], prev_byte)  # the beat before the incoming one
        # ge[k]: the beat has at least k bytes (keep is packed: ones from lane 0)
        in_ge = Cat(Const(1, 1), *(~incoming.last | incoming.keep[k - 1]
                                   for k in range(1, W + 1)))
        pre = Signal(data.StructLayout({
            "ge": W + 1,         # ge[k]: at least k bytes in the beat, k = 0..W
            "start_ok": W,       # the prefix at k is whole in the beat
            "ends": W,           # ... and the block it starts ends in the beat too
            "end_neg": W,        # the block's end, relative to the next beat: < 0
            "end_zero": W,       #   in 0 .. W-1 (the next prefix is in the next beat)
            "end_one": W,        #   in W .. 2W-1
            "count_more": 1,     # as a header beat: 1 <= message count < 0xFFFF
            "count_more2": 1,    # as a header beat: 2 <= message count < 0xFFFF
            "count_more3": 1,    # as a header beat: 3 <= message count < 0xFFFF
            "count_end": 1,      # as a header beat: message count 0xFFFF (end of session)
            "count_zero": 1,     # as a header beat: message count 0 (heartbeat)
            "len_code": _CODE_BITS * W,  # the length at k as a LENGTHS code
            "len_zero": W,       # the length at k is 0
            "type_code": _CODE_BITS * W,  # lane k as a type byte: its type code
        }))
        # per lane: the byte as a length's low byte, as a type byte, and "is zero"
        low_code = [_lookup(m, in_lanes[k], _LENGTH_CODE, f"in_low_code{k}") for k in range(W)]
        type_code = [_lookup(m, in_lanes[k], _TYPE_CODE, f"in_type_code{k}") for k in range(W)]
        zero = [in_lanes[k] == 0 for k in range(W)]
        pre_end = [Signal(_REL, name=f"pre_end{k}") for k in range(W)]  # relative to next beat
        in_pre = Signal.like(pre)
        in_end = [Signal(_REL, name=f"in_end{k}") for k in range(W)]
        for k in range(W):
            r = k if k < W - 1 else -1
            hi = in_lanes[k] if k < W - 1 else in_prev
            hi_zero = zero[k] if k < W - 1 else in_prev == 0
            length_k = Signal(16, name=f"in_len{k}")
            m.d.comb += length_k.eq(Cat(in_lanes[(k + 1) % W], hi))
            first = W - r - 2  # the shortest length that ends the block past this beat
            # The compares are split at the lane bits: the low part picks from a table of
            # W entries, the high part is compared for equality (no carry chain, one LUT
            # level or two).
            low = length_k[:lane_bits]
            high = length_k[lane_bits:]
            h0, h1, h2 = (Signal(name=f"in_high{k}_{n}") for n in range(3))
            m.d.comb += [h0.eq(high == 0), h1.eq(high == 1), h2.eq(high == 2)]
            below_first = Signal(name=f"in_below{k}")
            m.d.comb += below_first.eq(_pick([int(v < first) for v in range(W)], low))
            # A block ending in this beat is shorter than W: it ends at r + 2 + low, and
            # ge is monotone (ge[end] implies ge[r + 2]: the prefix is whole).
            ends_here = _pick([in_ge[r + 2 + v] if r + 2 + v <= W else 0
                               for v in range(W)], low)
            m.d.comb += [
                in_end[k].eq(r + 2 - W + length_k),
                in_pre.start_ok[k].eq(in_ge[r + 2]),
                in_pre.ends[k].eq(h0 & ends_here),
                in_pre.end_neg[k].eq(h0 & below_first),
                in_pre.end_zero[k].eq(h0 & ~below_first | h1 & below_first),
                in_pre.end_one[k].eq(h1 & ~below_first | h2 & below_first),
                in_pre.len_code.word_select(k, _CODE_BITS).eq(
                    Mux(hi_zero, low_code[(k + 1) % W], 0)),
                in_pre.len_zero[k].eq(hi_zero & zero[(k + 1) % W]),
                in_pre.type_code.word_select(k, _CODE_BITS).eq(type_code[k]),
            ]
        in_count = _be([in_lanes[h % W] for h in range(_COUNT.offset,
                                                       _COUNT.offset + _COUNT.width)])
        m.d.comb += [
            in_pre.ge.eq(in_ge),
            in_pre.count_more.eq((in_count != 0) & (in_count != END_OF_SESSION_COUNT)),
            in_pre.count_more2.eq((in_count[1:] != 0) & (in_count != END_OF_SESSION_COUNT)),
            in_pre.count_more3.eq(((in_count[2:] != 0) | (in_count[:2] == 3))
                                  & (in_count != END_OF_SESSION_COUNT)),
            in_pre.count_end.eq(in_count == END_OF_SESSION_COUNT),
            in_pre.count_zero.eq(in_count == 0),
        ]
        with m.If(load):
            m.d.sync += [pre.eq(in_pre), *(pre_end[k].eq(in_end[k]) for k in range(W))]

        # --- MoldUDP64 header: byte h arrives in beat h // W, lane h % W ----------
        header_beat = (HEADER_BYTES - 1) // W
        # one-hot beat number in the packet, saturating past the header: bit b is beat b
        beat_at = Signal(header_beat + 2, init=1)
        header = [Signal(8, name=f"header{h}") for h in range(HEADER_BYTES)]
        header_now: list[Value] = []  # this cycle's view: the captured byte or the lane carrying it
        for h in range(HEADER_BYTES):
            here = beat_at[h // W]
            header_now.append(Mux(here, lanes[h % W], header[h]))
            with m.If(advance & b_valid & here):
                m.d.sync += header[h].eq(lanes[h % W])

        def header_field(f: WireField) -> Value:
            """The field as the header beat sees it (only ever used there): bytes of
            earlier beats are in their registers, no lane select in front of them."""
            return _be([header[h] if h // W < header_beat else header_now[h]
                        for h in range(f.offset, f.offset + f.width)])

        session_now = header_field(_SESSION)
        base_now = header_field(_SEQUENCE)
        count_now = header_field(_COUNT)

        at_header = b_valid & beat_at[header_beat]
        header_done = Signal()  # this beat completes the header of a long-enough packet
        short = Signal()
        m.d.comb += [
            header_done.eq(at_header & pre.ge[(HEADER_BYTES - 1) % W + 1]),
            short.eq(b_valid & beat.last & beat_at[:header_beat].any()
                     | at_header & beat.last & ~header_done),
        ]
        end_of_session = Signal()
        heartbeat = Signal()
        # the count is in the header beat (bytes 18, 19; W >= 2): flags precomputed
        m.d.comb += [end_of_session.eq(pre.count_end), heartbeat.eq(pre.count_zero)]
        last_session = Signal(8 * _SESSION.width)
        have_session = Signal()
        new_session = Signal()
        m.d.comb += new_session.eq(~have_session | (last_session != session_now))

        # --- block framing ------------------------------------------------------------
        # `rel`: where the next prefix starts, relative to this beat (signed, >= -1 while
        # blocks remain). Its beat part rel // W is kept decoded in three flags (0, -1,
        # +1), so that the framer's decisions are a lane select and a few ANDs.
        rel_start = HEADER_BYTES - header_beat * W  # the first prefix, in the header beat
        framing = Signal()  # header seen: bytes now belong to blocks (or trail)
        left = Signal(16)  # blocks announced and not started yet
        more = Signal()  # left != 0
        more2 = Signal()  # left > 1
        next_seq = Signal(64)  # sequence number of the next block
        rel = Signal(_REL, init=rel_start)
        rel_zero = Signal(init=rel_start < W)  # 0 <= rel < W
        rel_one = Signal(init=rel_start >= W)  # W <= rel < 2W
        rel_neg1 = Signal()  # -W <= rel < 0
        active = Signal()  # a block was started and has not ended yet (it ends at rel)
        cur_code = Signal(_CODE_BITS)  # the active block's length, as a LENGTHS code
        cur_zero = Signal()  # ... is 0
        cur_seq = Signal(64)

        in_blocks = Signal()
        more_now = Signal()  # the header beat's count is not the last packet's
        more2_now = Signal()
        m.d.comb += [
            in_blocks.eq(b_valid & (framing | header_done)),
            more_now.eq(Mux(framing, more, pre.count_more)),
            more2_now.eq(Mux(framing, more2, pre.count_more2)),
        ]
        seq_base = Signal(64)
        m.d.comb += seq_base.eq(Mux(framing, next_seq, base_now))
        lane = rel[:lane_bits]  # also the candidate index: lane W-1 of beat -1 is -1
        near = Signal()  # the next prefix starts in -1 .. W-2
        m.d.comb += near.eq(rel_zero & (lane != W - 1) | rel_neg1 & (lane == W - 1))
        negative = rel[-1]
        rel_le_n = Signal()  # rel <= bytes in the beat: the active block ends here
        rel_lt_n = Signal()
        ge_after = _pick([pre.ge[v + 1] for v in range(W)], lane)  # ge[lane + 1]
        m.d.comb += [
            rel_le_n.eq(negative | rel_zero & pre.ge.bit_select(lane, 1)
                        | rel_one & (lane == 0) & pre.ge[W]),
            rel_lt_n.eq(negative | rel_zero & ge_after),
        ]

        complete = Signal()
        # `active` is stale outside framing (a packet cut off mid-block leaves it set):
        # gated by `framing` here rather than cleared at the packet's end
        m.d.comb += complete.eq(in_blocks & active & framing & rel_le_n)
        start = Signal()
        m.d.comb += [
            start.eq(in_blocks & more_now & near & pre.start_ok.bit_select(lane, 1)),
            hold.eq(in_blocks & more_now & near & pre.ends.bit_select(lane, 1)),
        ]
        end_next = _pick(pre_end, lane, _REL.width)  # the started block's end, next beat

        active_next = Signal()
        m.d.comb += active_next.eq(start | active & framing & ~complete)
        more_next = Signal()
        m.d.comb += more_next.eq(Mux(start, more2_now, more_now))

        # Body bytes: byte j of a block whose body starts at lane r of beat s is lane
        # (r + j) mod W of beat s + (r + j) // W. `body_beat` counts beats from s, +1
        # (0: the body starts in the next beat), saturating past the longest message.
        beats_max = (MAX_MESSAGE - 1 + W - 1) // W + 2
        body_beat = Signal(range(beats_max + 1))
        new_beat = Signal(range(beats_max + 1))
        m.d.comb += new_beat.eq(lane != W - 2)  # the body starts in this beat

        def by_lane(values: Sequence[Value]) -> Value:
            """``values[lane]``: a W:1 mux on the prefix lane (no adder in front of it)."""
            return _pick(values, lane, len(values[0]))
        # One rotator per block in flight: lane i of `cur_rot` is body byte i (mod W).
        # The active block's lane selects are registers (set when it starts).
        cur_sel = [Signal(lane_bits, name=f"cur_sel{i}") for i in range(W)]
        cur_rot = [Signal(8, name=f"cur_rot{i}") for i in range(W)]
        new_rot = [Signal(8, name=f"new_rot{i}") for i in range(W)]
        for i in range(W):
            m.d.comb += [cur_rot[i].eq(beat.data.word_select(cur_sel[i], 8)),
                         new_rot[i].eq(by_lane([lanes[(v + 2 + i) % W] for v in range(W)]))]
        # Body byte j is in this beat when j // W plus the lane wrap matches the beat count.
        # wraps[i]: lane i of the rotator is past the beat's end ((body lane + i) >= W); the
        # active block's are registers, set when it starts.
        cur_wraps = Signal(W)
        new_wraps = Signal(W)
        m.d.comb += new_wraps.eq(by_lane([Const(sum(1 << i for i in range(W)
                                                    if (v + 2) % W + i >= W), W)
                                          for v in range(W)]))
        body = [Signal(8, name=f"body{j}") for j in range(MAX_MESSAGE)]
        # the type byte's length code, kept beside body[0] (and from the same lane)
        type_codes = [pre.type_code.word_select(k, _CODE_BITS) for k in range(W)]
        body_code = Signal(_CODE_BITS)
        cur_code_here = pre.type_code.word_select(cur_sel[0], _CODE_BITS)
        new_code_here = by_lane([type_codes[(v + 2) % W] for v in range(W)])
        assembled = []  # the completing block's bytes, this beat's lanes merged in
        for j in range(MAX_MESSAGE):
            cur_here = Signal(name=f"cur_here{j}")
            new_here = Signal(name=f"new_here{j}")
            cur_byte = cur_rot[j % W]
            new_byte = new_rot[j % W]
            m.d.comb += [
                cur_here.eq(active & Mux(cur_wraps[j % W], body_beat == j // W + 2,
                                         body_beat == j // W + 1)),
                new_here.eq(start & Mux(new_wraps[j % W], new_beat == j // W + 2,
                                        new_beat == j // W + 1)),
            ]
            assembled.append(Mux(cur_here, cur_byte, body[j]))
            with m.If(advance & b_valid):
                with m.If(new_here):
                    m.d.sync += body[j].eq(new_byte)
                    if j == 0:
                        m.d.sync += body_code.eq(new_code_here)
                with m.Elif(cur_here):
                    m.d.sync += body[j].eq(cur_byte)
                    if j == 0:
                        m.d.sync += body_code.eq(cur_code_here)
            if j == 0:
                assembled_code = Mux(cur_here, cur_code_here, body_code)

        # --- packet end: what the last beat leaves unfinished ------------------------
        # (`truncated` and `trailing` are told apart in the decode stage, from these)
        packet_end = Signal()
        m.d.comb += [
            packet_end.eq(b_valid & beat.last & ~hold),
        ]

        with m.If(advance & b_valid):
            with m.If(~hold):
                m.d.sync += prev_byte.eq(lanes[W - 1])
            with m.If(header_done):
                m.d.sync += framing.eq(1)
                with m.If(~end_of_session):
                    m.d.sync += [last_session.eq(session_now), have_session.eq(1)]
            with m.If(in_blocks):
                left_now = Mux(framing, left, Mux(end_of_session, 0, count_now))
                # left > 1 after this beat: from the registers, not from the new `left`
                more3_now = Mux(framing, left > 2, pre.count_more3)
                m.d.sync += [left.eq(left_now - start), more.eq(more_next),
                             more2.eq(Mux(start, more3_now, more2_now)),
                             active.eq(active_next)]
                with m.If(hold):  # the block ends in this beat too: its end is <= W
                    m.d.sync += [rel.eq(Cat(end_next[:lane_bits],
                                            pre.end_zero.bit_select(lane, 1))),
                                 rel_zero.eq(pre.end_neg.bit_select(lane, 1)),
                                 rel_one.eq(pre.end_zero.bit_select(lane, 1)),
                                 rel_neg1.eq(0)]
                with m.Elif(start):
                    m.d.sync += [rel.eq(end_next),
                                 rel_zero.eq(pre.end_zero.bit_select(lane, 1)),
                                 rel_one.eq(pre.end_one.bit_select(lane, 1)),
                                 rel_neg1.eq(pre.end_neg.bit_select(lane, 1))]
                with m.Else():
                    m.d.sync += [rel.eq(rel - W), rel_zero.eq(rel_one),
                                 rel_one.eq(rel[lane_bits:] == 2), rel_neg1.eq(rel_zero)]
                with m.If(start):
                    m.d.sync += [next_seq.eq(seq_base + 1), cur_seq.eq(seq_base),
                                 cur_code.eq(pre.len_code.word_select(lane, _CODE_BITS)),
                                 cur_zero.eq(pre.len_zero.bit_select(lane, 1)),
                                 cur_wraps.eq(new_wraps),
                                 body_beat.eq(new_beat + ~hold),
                                 *(cur_sel[i].eq(by_lane([Const((v + 2 + i) % W, lane_bits)
                                                          for v in range(W)]))
                                   for i in range(W))]
                with m.Elif(~hold & (body_beat != beats_max)):
                    m.d.sync += body_beat.eq(body_beat + 1)
                # the first prefix may start after the header beat (20 % W == 0: W <= 4)
                with m.If(~framing & ~start):
                    m.d.sync += next_seq.eq(base_now)
            with m.If(~hold & ~beat.last & ~beat_at[header_beat + 1]):
                m.d.sync += beat_at.eq(beat_at << 1)
            with m.If(packet_end):
                m.d.sync += [beat_at.eq(1), framing.eq(0),
                             rel.eq(rel_start), rel_zero.eq(rel_start < W),
                             rel_one.eq(rel_start >= W), rel_neg1.eq(0)]

        # --- event register -------------------------------------------------------------
        ev = Signal(data.StructLayout({
            "block": 1, "code": _CODE_BITS, "zero": 1, "type_code": _CODE_BITS, "seq": 64,
            "header": 1, "new_session": 1, "heartbeat": 1, "base": 64,
            "packet": 1, "end_of_session": 1, "short": 1,
            "blocks_end": 1, "started": 1, "open": 1, "more": 1, "ends_before": 1,
        }))
        ev_body = [Signal(8, name=f"ev_body{j}") for j in range(MAX_MESSAGE)]
        with m.If(advance):
            m.d.sync += [
                ev.block.eq(complete),
                ev.code.eq(cur_code),
                ev.zero.eq(cur_zero),
                ev.type_code.eq(assembled_code),
                ev.seq.eq(cur_seq),
                ev.header.eq(header_done & ~end_of_session),
                ev.new_session.eq(new_session),
                ev.heartbeat.eq(heartbeat),
                ev.base.eq(base_now),
                ev.packet.eq(packet_end),
                ev.end_of_session.eq(header_done & end_of_session),
                ev.blocks_end.eq(packet_end & in_blocks),
                ev.started.eq(start),
                ev.open.eq(active & framing & ~complete),
                ev.more.eq(more_now),
                # after this beat's blocks (none started: that one would be unfinished)
                ev.ends_before.eq(rel_lt_n),
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
            m.d.comb += sig.eq(ev.type_code == _TYPE_CODE[ord(t)])
        type_length = _lookup(m, ev.type_code, _TYPE_LENGTH, "type_length")
        known = Signal()
        right_length = Signal()  # the length is the type's (so not 0)
        m.d.comb += [
            known.eq(ev.type_code != 0),
            right_length.eq(known & (ev.code == type_length)),
        ]
        bad_length = Signal()
        unknown_type = Signal()
        good = Signal()
        m.d.comb += [
            bad_length.eq(ev.block & (ev.zero | known & ~right_length)),
            unknown_type.eq(ev.block & ~ev.zero & ~known),
            good.eq(ev.block & right_length),
        ]

        # at a packet's end: a block cut off, or a prefix missing, before `count` blocks
        unfinished = Signal()
        m.d.comb += unfinished.eq(ev.started | ev.open | ev.more)
        truncated = Signal()  # the packet ended before `count` blocks were read
        trailing = Signal()  # ... after them, with bytes to spare
        m.d.comb += [
            truncated.eq(ev.blocks_end & unfinished),
            trailing.eq(ev.blocks_end & ~unfinished & ev.ends_before),
        ]

        expected = Signal(64)
        synced = Signal()
        synced_now = Signal()
        m.d.comb += synced_now.eq(synced & ~(ev.header & ev.new_session))
        heartbeat_ev = ev.header & ev.heartbeat
        gap = Signal()
        duplicate = Signal()
        heartbeat_gap = Signal()
        ahead = Signal()  # the sequence number is above the expected one
        behind = Signal()
        m.d.comb += [
            ahead.eq(synced_now & (ev.seq > expected)),
            behind.eq(synced_now & (ev.seq < expected)),
            gap.eq(good & ahead),
            duplicate.eq(good & behind),
            heartbeat_gap.eq(heartbeat_ev & synced_now & (ev.base > expected)),
        ]
        # Sequence numbers skipped, added to `missing` a cycle later: both differences
        # are registered as they are, the choice between them (or none) is made then.
        seq_jump = Signal(64)
        base_jump = Signal(64)
        heartbeat_gap_step = Signal()
        m.d.sync += [seq_jump.eq(ev.seq - expected), base_jump.eq(ev.base - expected),
                     heartbeat_gap_step.eq(advance & heartbeat_gap)]
        with m.If(advance):
            m.d.sync += synced.eq(synced_now)
            with m.If(heartbeat_ev & (~synced_now | (ev.base > expected))):
                m.d.sync += [expected.eq(ev.base), synced.eq(1)]
            with m.If(ev.block & (~synced_now | (ev.seq >= expected))):
                m.d.sync += [expected.eq(ev.seq + 1), synced.eq(1)]

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
        # A counter steps a cycle after its event: the enable is registered, so that the
        # decode logic and the counter's adder are not one path.
        def count_when(counter: Signal, condition: object) -> None:
            step = Signal(name=f"step_{counter.name}")
            m.d.sync += step.eq(advance & condition)
            with m.If(step):
                m.d.sync += counter.eq(counter + 1)

        # the message counters: from the registered terms, ANDed at the counter stage
        stepped = Signal()
        good_step, passes_step, ahead_step, behind_step = (
            Signal(name=f"step_{n}") for n in ("good", "passes", "ahead", "behind"))
        m.d.sync += [stepped.eq(advance), good_step.eq(good), passes_step.eq(passes),
                     ahead_step.eq(ahead), behind_step.eq(behind)]

        jump = Signal(64)  # (a GAP-flagged record's and a heartbeat's gap are exclusive)
        m.d.comb += jump.eq(Mux(heartbeat_gap_step, base_jump,
                                Mux(stepped & good_step & ahead_step, seq_jump, 0)))
        missing_sum = Signal(65)
        m.d.comb += missing_sum.eq(self.missing + jump)
        m.d.sync += self.missing.eq(Mux(missing_sum[64], (1 << 64) - 1, missing_sum[:64]))

        def count_after(counter: Signal, condition: Value) -> None:
            with m.If(stepped & condition):
                m.d.sync += counter.eq(counter + 1)

        count_when(self.packets, ev.packet)
        count_after(self.messages, good_step)
        count_after(self.records, good_step & passes_step)
        count_after(self.filtered, good_step & ~passes_step)
        count_when(self.heartbeats, heartbeat_ev)
        count_when(self.end_of_session, ev.end_of_session)
        count_when(self.truncated, truncated)
        count_when(self.unknown_type, unknown_type)
        count_when(self.bad_length, bad_length)
        count_when(self.trailing_bytes, trailing)
        count_when(self.short_packet, ev.short)
        count_after(self.gaps, good_step & ahead_step | heartbeat_gap_step)
        count_after(self.duplicates, good_step & behind_step)
        return m
