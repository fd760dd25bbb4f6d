"""Temporary files standing in for the aws backend's PCI BARs (OCL BAR0, PCIS BAR4)."""

from __future__ import annotations

import struct
from pathlib import Path

from nanogate.gateway.device import aws

OCL_SIZE, PCIS_SIZE = 0x4000, 0x60000


class FakeBars:
    def __init__(self, tmp_path: Path) -> None:
        self.ocl, self.pcis = tmp_path / "resource0", tmp_path / "resource4"
        self.ocl.write_bytes(bytes(OCL_SIZE))
        self.pcis.write_bytes(bytes(PCIS_SIZE))
        self.poke(aws.OCL_PLATFORM_BASE, aws.PLATFORM_ID)

    def poke(self, offset: int, value: int) -> None:
        with self.ocl.open("r+b") as f:
            f.seek(offset)
            f.write(struct.pack("<I", value))

    def peek(self, offset: int) -> int:
        return int(struct.unpack_from("<I", self.ocl.read_bytes(), offset)[0])

    def platform(self, name: str, value: int) -> None:
        self.poke(aws.OCL_PLATFORM_BASE + aws.PLATFORM_REGS.offset(name), value)

    def put_beats(self, offset: int, data: bytes) -> None:
        with self.pcis.open("r+b") as f:
            f.seek(offset)
            f.write(data)

    def options(self) -> dict[str, str]:
        return {"ocl": str(self.ocl), "pcis": str(self.pcis)}

    def argv(self, *extra: str) -> list[str]:
        """The command-line options that point ``--device aws`` at these files."""
        return ["--device", "aws", "--device-option", f"ocl={self.ocl}",
                "--device-option", f"pcis={self.pcis}", *extra]
