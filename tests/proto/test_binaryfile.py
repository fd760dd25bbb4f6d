from __future__ import annotations

import pytest

from nanogate.proto import binaryfile
from nanogate.proto.faults import Fault
from nanogate.proto.itch import MESSAGES, encode_message


def message(type_char: str) -> bytes:
    spec = MESSAGES[type_char]
    values: dict[str, int | str] = {"type": type_char}
    for f in spec.wire.fields[1:]:
        values[f.name] = "X" if f.kind.value == "alpha" else 1
    return encode_message(values)


def zero_prefixed(messages: list[bytes]) -> bytes:
    return b"".join(b"\x00\x00" + m for m in messages)


def test_true_length_prefixes() -> None:
    messages = [message("A"), message("D"), message("S")]
    data = binaryfile.encode(messages)
    framing = binaryfile.frame(data)
    assert not framing.zero_length_prefixes and not framing.faults
    assert [data[o:o + n] for o, n in framing.messages] == messages


def test_zero_length_prefixes_take_lengths_from_the_type() -> None:
    messages = [message("R"), message("A"), message("P")]
    framing = binaryfile.frame(zero_prefixed(messages))
    assert framing.zero_length_prefixes and not framing.faults
    assert [n for _, n in framing.messages] == [39, 36, 44]


def test_unknown_type_without_prefix_stops_with_a_fault() -> None:
    data = zero_prefixed([message("A")]) + b"\x00\x00?" + bytes(30) + zero_prefixed([message("D")])
    framing = binaryfile.frame(data)
    assert len(framing.messages) == 1
    assert [f.fault for f in framing.faults] == [Fault.UNKNOWN_TYPE]
    assert framing.faults[0].offset == 2 + 36 + 2


@pytest.mark.parametrize("cut", [1, 10, 37])
def test_truncated_file(cut: int) -> None:
    data = binaryfile.encode([message("D"), message("A")])
    framing = binaryfile.frame(data[:-cut])
    assert len(framing.messages) == 1
    assert [f.fault for f in framing.faults] == [Fault.TRUNCATED]


def test_real_prefix_in_a_zero_prefixed_file() -> None:
    data = zero_prefixed([message("D")]) + binaryfile.encode([message("D")])
    framing = binaryfile.frame(data)
    assert [f.fault for f in framing.faults] == [Fault.BAD_LENGTH]


def test_zero_length_block_in_a_true_length_file_is_one_empty_message() -> None:
    data = binaryfile.encode([message("D")]) + b"\x00\x00" + binaryfile.encode([message("D")])
    framing = binaryfile.frame(data)
    assert [n for _, n in framing.messages] == [19, 0, 19]


def test_encode_refuses_empty_messages() -> None:
    with pytest.raises(ValueError):
        binaryfile.encode([b""])
