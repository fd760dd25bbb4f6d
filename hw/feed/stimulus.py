"""Between bytes and the parser's ports: payloads as beats, record bits as BookEvent rows.

Used by every testbench (Amaranth simulator and cocotb), the ``rtl-sim``
backend and the benchmark, so all of them cut packets and read records the
same way.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Sequence

import numpy as np

from nanogate.hw.layouts import unpack
from nanogate.proto import binaryfile, moldudp64
from nanogate.proto.itch import MESSAGES
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE

__all__ = ["beats", "every_type_messages", "messages_of", "records_to_array", "sample_packets",
           "stream_of_packets"]


def beats(payload: bytes, data_bytes: int = 8) -> list[tuple[int, int, int]]:
    """``(data, keep, last)`` for each beat of ``payload``: byte 0 in lane 0, packed.

    An empty payload is one beat with ``keep`` 0 and ``last`` set.
    """
    if not payload:
        return [(0, 0, 1)]
    out = []
    for start in range(0, len(payload), data_bytes):
        chunk = payload[start:start + data_bytes]
        out.append((int.from_bytes(chunk, "little"), (1 << len(chunk)) - 1,
                    int(start + data_bytes >= len(payload))))
    return out


def beat_bits(beat: tuple[int, int, int], data_bytes: int = 8) -> int:
    """One beat as the bit pattern of :func:`nanogate.hw.layouts.beat_layout`."""
    data, keep, last = beat
    return data | keep << (8 * data_bytes) | last << (9 * data_bytes)


def records_to_array(records: Iterable[int]) -> np.ndarray:
    """BookEvent bit patterns (as the parser's ``o.payload`` holds them) as NumPy rows."""
    rows = []
    for bits in records:
        fields = unpack(BOOK_EVENT, bits)
        rows.append(tuple(fields[name] for name in BOOK_EVENT.names))
    return np.array(rows, dtype=BOOK_EVENT_DTYPE)


def sample_packets(data: bytes, session: str = "NGSAMPLE", first_sequence: int = 1,
                   max_payload: int = 1400) -> list[bytes]:
    """A BinaryFILE reframed into MoldUDP64 payloads (what the sample file becomes)."""
    framing = binaryfile.frame(data)
    messages: Sequence[bytes] = [data[o:o + n] for o, n in framing.messages]
    return [p.encode() for p in moldudp64.packetize(session, messages, first_sequence,
                                                    max_payload)]


def messages_of(count: int, seed: int, instruments: int = 8) -> list[bytes]:
    """``count`` book-consistent messages from the synthetic generator (at least 22)."""
    from nanogate.sim.synth import fixed_overhead, generate_session

    size = max(count, fixed_overhead(instruments))
    return list(generate_session(size, instruments, seed).messages())[:count]


def every_type_messages(rng: random.Random) -> list[bytes]:
    """One message of each of the 23 ITCH 5.0 types, every byte after the type random."""
    return [bytes([ord(t)]) + rng.randbytes(spec.length - 1) for t, spec in MESSAGES.items()]


def stream_of_packets(rng: random.Random, messages: Sequence[bytes], *, faults: bool = True,
                      session: str = "NGTEST0001") -> list[bytes]:
    """MoldUDP64 payloads carrying ``messages``, with sequence and framing trouble mixed in.

    Packets hold 1..12 messages. With ``faults``, about one packet in four is
    spoiled: a wrong or zero length prefix, an unknown type byte, a truncated or
    overlong payload, a short payload, a heartbeat (ahead, behind, or with
    trailing bytes), an end of session, a sequence jump back or forward, or a
    session change. Later packets are always well formed, so a parser must
    resynchronise on each packet.
    """
    payloads: list[bytes] = []
    sequence = 1
    position = 0
    current = session
    while position < len(messages):
        batch = list(messages[position:position + rng.randint(1, 12)])
        position += len(batch)
        base = sequence
        sequence += len(batch)
        kind = rng.choice(_FAULT_KINDS) if faults and rng.random() < 0.25 else "none"
        blocks = [struct.pack(">H", len(m)) + m for m in batch]
        if kind == "bad_length":
            k = rng.randrange(len(blocks))
            length = rng.choice([0, 1, len(batch[k]) - 1, len(batch[k]) + 1,
                                 len(batch[k]) + 256])  # high byte set: runs off the end
            blocks[k] = struct.pack(">H", length) + batch[k][:length]
        elif kind == "unknown_type":
            k = rng.randrange(len(blocks))
            blocks[k] = blocks[k][:2] + bytes([rng.choice(_UNKNOWN)]) + blocks[k][3:]
        elif kind == "tiny_blocks":  # several malformed blocks in one beat
            tiny = [struct.pack(">H", rng.randint(0, 3)) for _ in range(rng.randint(2, 6))]
            tiny = [b + bytes(rng.randbytes(int.from_bytes(b, "big"))) for b in tiny]
            # before the messages, or last: ending a packet exactly at its last byte
            blocks = tiny + blocks if rng.random() < 0.5 else blocks + tiny
        elif kind == "seq_back":
            base = max(1, base - rng.randint(1, 5))
        elif kind == "seq_ahead":
            base += rng.randint(1, 5)
            sequence = base + len(batch)
        elif kind == "session":
            current = f"NGTEST{rng.randint(2, 3):04d}"
        header = moldudp64.HEADER.pack({"session": current, "sequence_number": base,
                                        "message_count": len(blocks)})
        payload = header + b"".join(blocks)
        if kind == "truncated":
            payload = payload[:rng.randint(21, len(payload) - 1)]
        elif kind == "trailing":
            payload += rng.randbytes(rng.randint(1, 9))
        payloads.append(payload)
        if kind == "short":
            payloads.append(rng.randbytes(rng.choice([19, rng.randint(1, 18)])))
        elif kind == "heartbeat":
            ahead = rng.choice([-2, 0, 0, 3])
            beat = moldudp64.encode_packet(current, max(1, sequence + ahead))
            payloads.append(beat + (rng.randbytes(3) if rng.random() < 0.3 else b""))
            sequence = max(sequence, sequence + ahead)
        elif kind == "end_of_session":
            payloads.append(moldudp64.encode_packet(current, sequence, end_of_session=True))
    return payloads


_FAULT_KINDS = ("bad_length", "unknown_type", "tiny_blocks", "seq_back", "seq_ahead", "session",
                "truncated", "trailing", "short", "heartbeat", "end_of_session")
_UNKNOWN = [b for b in range(256) if chr(b) not in MESSAGES]


def message_end_beats(payloads: Sequence[bytes], data_bytes: int = 8) -> list[tuple[int, str]]:
    """For each message of well-formed ``payloads``: (index of the beat carrying its last
    byte, counting every beat of the stream, its type character)."""
    ends: list[tuple[int, str]] = []
    base = 0
    for payload in payloads:
        framing = moldudp64.frame_packet(payload)
        for offset, length in framing.messages:
            ends.append((base + (offset + length - 1) // data_bytes, chr(payload[offset])))
        base += max(1, -(-len(payload) // data_bytes))
    return ends


def coverage(payloads: Sequence[bytes], data_bytes: int = 8) -> dict[str, set[tuple[object, ...]]]:
    """Functional coverage of the well-framed, valid messages in ``payloads``.

    Bins: ``lane`` (type, lane of its type byte), ``span`` (type, spans a beat
    boundary), ``place`` (type, first/middle/last/only in its packet).
    """
    bins: dict[str, set[tuple[object, ...]]] = {"lane": set(), "span": set(), "place": set()}
    for payload in payloads:
        try:
            framing = moldudp64.frame_packet(payload)
        except ValueError:
            continue
        valid = [(o, n) for o, n in framing.messages
                 if n and chr(payload[o]) in MESSAGES and MESSAGES[chr(payload[o])].length == n]
        for index, (offset, length) in enumerate(framing.messages):
            if (offset, length) not in valid:
                continue
            t = chr(payload[offset])
            bins["lane"].add((t, offset % data_bytes))
            bins["span"].add((t, offset // data_bytes != (offset + length - 1) // data_bytes))
            count = len(framing.messages)
            place = ("only" if count == 1 else "first" if index == 0
                     else "last" if index == count - 1 else "middle")
            bins["place"].add((t, place))
    return bins


def coverage_goal(data_bytes: int = 8) -> dict[str, set[tuple[object, ...]]]:
    """Every bin :func:`coverage` can hit (a 12-byte message at 64 bits always spans)."""
    goal: dict[str, set[tuple[object, ...]]] = {"lane": set(), "span": set(), "place": set()}
    for t, spec in MESSAGES.items():
        goal["lane"] |= {(t, lane) for lane in range(data_bytes)}
        goal["span"].add((t, True))
        if spec.length <= data_bytes:
            goal["span"].add((t, False))
        goal["place"] |= {(t, p) for p in ("first", "middle", "last")}
    return goal


def coverage_report(hit: dict[str, set[tuple[object, ...]]], data_bytes: int = 8) -> str:
    goal = coverage_goal(data_bytes)
    lines = ["feed parser functional coverage", ""]
    for name, wanted in goal.items():
        got = hit[name] & wanted
        lines.append(f"{name:<6} {len(got):>4} / {len(wanted):<4} bins")
        missing = sorted(wanted - got, key=repr)
        if missing:
            lines.append(f"       missing: {missing[:12]}{' ...' if len(missing) > 12 else ''}")
    lines.append("")
    lines.append("type  lanes seen       spans/not  first middle last")
    for t in MESSAGES:
        lanes = "".join(str(lane) if (t, lane) in hit["lane"] else "."
                        for lane in range(data_bytes))
        spans = "".join("y" if (t, s) in hit["span"] else "-" for s in (True, False))
        places = " ".join(f"{'x' if (t, p) in hit['place'] else '.':^5}"
                          for p in ("first", "middle", "last"))
        lines.append(f"  {t}   {lanes:<16} {spans:<9}  {places}")
    return "\n".join(lines) + "\n"
