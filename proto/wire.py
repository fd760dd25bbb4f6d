"""Big-endian wire structures described as data.

A :class:`WireStruct` is an ordered list of :class:`WireField` (name, offset,
width, kind). The ITCH 5.0 messages and the MoldUDP64 headers are both
written as such tables; encoding, decoding, the fast decoder's generated code
and the docs are all derived from them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Value = int | str


class Kind(enum.Enum):
    """How the bytes of a field are read."""

    INTEGER = "integer"  # unsigned big-endian, 1/2/4/8 bytes
    ALPHA = "alpha"  # ASCII, left-justified, padded with spaces
    PRICE4 = "price(4)"  # unsigned 4-byte integer, 4 implied decimals
    PRICE8 = "price(8)"  # unsigned 8-byte integer, 8 implied decimals
    TIMESTAMP = "timestamp(6)"  # unsigned 6-byte integer, ns since midnight


_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_NUMERIC_KINDS = (Kind.INTEGER, Kind.PRICE4, Kind.PRICE8, Kind.TIMESTAMP)


class WireError(ValueError):
    """A value or buffer that does not fit a wire structure."""


@dataclass(frozen=True)
class WireField:
    name: str
    offset: int
    width: int
    kind: Kind

    def __post_init__(self) -> None:
        expected = {Kind.PRICE4: 4, Kind.PRICE8: 8, Kind.TIMESTAMP: 6}.get(self.kind)
        if expected is not None and self.width != expected:
            raise ValueError(f"{self.name}: {self.kind.value} must be {expected} bytes")
        if self.kind is Kind.INTEGER and self.width not in _INT_CODES:
            raise ValueError(f"{self.name}: integer width {self.width} not in 1/2/4/8")

    @property
    def is_numeric(self) -> bool:
        return self.kind in _NUMERIC_KINDS

    @property
    def max_value(self) -> int:
        return (1 << (8 * self.width)) - 1


@dataclass(frozen=True)
class WireStruct:
    """A fixed-length big-endian structure: its fields tile it exactly."""

    name: str
    fields: tuple[WireField, ...]
    _struct: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        position = 0
        codes = [">"]
        for f in self.fields:
            if f.offset != position:
                raise ValueError(f"{self.name}.{f.name}: offset {f.offset}, expected {position}")
            position += f.width
            if f.kind is Kind.ALPHA:
                codes.append(f"{f.width}s")
            elif f.kind is Kind.TIMESTAMP:
                codes.append("HI")  # 48 bits as high 16 + low 32
            else:
                codes.append(_INT_CODES[f.width])
        object.__setattr__(self, "_struct", struct.Struct("".join(codes)))

    @property
    def length(self) -> int:
        last = self.fields[-1]
        return last.offset + last.width

    def field(self, name: str) -> WireField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def unpack(self, buf: bytes | bytearray | memoryview, offset: int = 0) -> dict[str, Value]:
        """Decode one structure at ``offset``; alpha fields lose trailing spaces."""
        if len(buf) - offset < self.length:
            raise WireError(
                f"{self.name}: need {self.length} bytes at offset {offset}, "
                f"have {max(len(buf) - offset, 0)}"
            )
        raw = iter(self._struct.unpack_from(buf, offset))
        out: dict[str, Value] = {}
        for f in self.fields:
            if f.kind is Kind.ALPHA:
                out[f.name] = next(raw).decode("latin-1").rstrip(" ")
            elif f.kind is Kind.TIMESTAMP:
                high = next(raw)
                out[f.name] = (high << 32) | next(raw)
            else:
                out[f.name] = next(raw)
        return out

    def pack(self, values: Mapping[str, Value]) -> bytes:
        """Encode from a mapping holding every field (extra keys are an error)."""
        extra = set(values) - set(self.field_names)
        if extra:
            raise WireError(f"{self.name}: unknown field(s) {sorted(extra)}")
        args: list[int | bytes] = []
        for f in self.fields:
            if f.name not in values:
                raise WireError(f"{self.name}: missing field {f.name!r}")
            args.extend(_encode_value(self.name, f, values[f.name]))
        return self._struct.pack(*args)


def _encode_value(owner: str, f: WireField, value: Value) -> Sequence[int | bytes]:
    if f.kind is Kind.ALPHA:
        if not isinstance(value, str):
            raise WireError(f"{owner}.{f.name}: expected text, got {type(value).__name__}")
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise WireError(f"{owner}.{f.name}: {value!r} is not ASCII") from None
        if len(raw) > f.width:
            raise WireError(f"{owner}.{f.name}: {value!r} longer than {f.width} bytes")
        return (raw.ljust(f.width, b" "),)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{owner}.{f.name}: expected an integer, got {type(value).__name__}")
    if not 0 <= value <= f.max_value:
        raise WireError(f"{owner}.{f.name}: {value} outside 0..{f.max_value}")
    if f.kind is Kind.TIMESTAMP:
        return (value >> 32, value & 0xFFFF_FFFF)
    return (value,)


def build_struct(name: str, spec: Sequence[tuple[str, int, Kind]], start: int = 0,
                 head: Sequence[WireField] = ()) -> WireStruct:
    """Lay fields out back to back after ``head`` (offsets are computed)."""
    fields = list(head)
    offset = start
    for field_name, width, kind in spec:
        fields.append(WireField(field_name, offset, width, kind))
        offset += width
    return WireStruct(name, tuple(fields))
