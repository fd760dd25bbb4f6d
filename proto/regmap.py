"""Register maps, defined once: the gateware's register bank, the host drivers and the docs.

A :class:`RegisterMap` is an ordered list of :class:`Register` on a 32-bit
AXI-Lite bus. Offsets are assigned in order, one 32-bit word per 32 bits of
width (a 64-bit register takes two words, low word first). From the one
definition come ``nanogate.hw.axil.RegisterBank`` (the AXI-Lite slave),
the host drivers' offsets (:meth:`RegisterMap.offsets`) and the Markdown
table (:meth:`RegisterMap.markdown`).

Access kinds:

* ``ro`` - read by the host, driven by the design (counters, status). A
  register wider than 32 bits is read low word first: reading the low word
  latches the high words, so a 64-bit counter reads consistently.
* ``rw`` - written and read back by the host; the design sees the value.
* ``wo`` - written by the host, reads as 0; the design sees the value and a
  one-cycle strobe when the last word is written (table writes, commands).

Every writable register also gets that strobe, so a design can act on a write.
"""

from __future__ import annotations

import enum
import keyword
from collections.abc import Iterable
from dataclasses import dataclass, field

WORD_BYTES = 4
WORD_BITS = 32


class Access(enum.Enum):
    RO = "ro"
    RW = "rw"
    WO = "wo"


@dataclass(frozen=True)
class Register:
    name: str
    access: Access
    width: int = 32
    doc: str = ""
    reset: int = 0

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or keyword.iskeyword(self.name) or self.name == "bus":
            raise ValueError(f"register name {self.name!r} is not a usable identifier")
        if not 1 <= self.width <= 64:
            raise ValueError(f"{self.name}: width {self.width} outside 1..64")
        if not 0 <= self.reset < (1 << self.width):
            raise ValueError(
                f"{self.name}: reset value {self.reset} does not fit {self.width} bits")
        if self.access is Access.RO and self.reset:
            raise ValueError(f"{self.name}: a read-only register's value comes from the design")

    @property
    def words(self) -> int:
        return (self.width + WORD_BITS - 1) // WORD_BITS

    @property
    def writable(self) -> bool:
        return self.access is not Access.RO


@dataclass(frozen=True)
class RegisterMap:
    name: str
    registers: tuple[Register, ...]
    doc: str = ""
    _offsets: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets: dict[str, int] = {}
        position = 0
        for register in self.registers:
            if register.name in offsets:
                raise ValueError(f"{self.name}: register {register.name!r} defined twice")
            offsets[register.name] = position
            position += register.words * WORD_BYTES
        object.__setattr__(self, "_offsets", offsets)

    def register(self, name: str) -> Register:
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(f"{self.name} has no register {name!r}")

    def offset(self, name: str) -> int:
        try:
            return self._offsets[name]
        except KeyError:
            raise KeyError(f"{self.name} has no register {name!r}") from None

    def offsets(self) -> dict[str, int]:
        """Register name -> byte offset (what host drivers use)."""
        return dict(self._offsets)

    @property
    def size(self) -> int:
        """Bytes of address space the map takes."""
        return sum(r.words for r in self.registers) * WORD_BYTES

    @property
    def address_width(self) -> int:
        """AXI-Lite address bits needed to reach every word (at least 4)."""
        return max(4, (self.size - 1).bit_length())

    def markdown(self) -> str:
        lines = [f"### {self.name} registers", ""]
        if self.doc:
            lines += [self.doc, ""]
        lines += ["| offset | name | access | width | reset | meaning |",
                  "| ---: | --- | --- | ---: | ---: | --- |"]
        for r in self.registers:
            lines.append(f"| 0x{self.offset(r.name):04x} | `{r.name}` | {r.access.value} "
                         f"| {r.width} | {r.reset:#x} | {r.doc} |")
        return "\n".join(lines) + "\n"


def register_map(name: str, registers: Iterable[Register], doc: str = "") -> RegisterMap:
    return RegisterMap(name, tuple(registers), doc)
