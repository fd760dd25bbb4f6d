"""Port lists: the transcribed AWS shell interfaces, and the ports of generated Verilog.

``cl_ports_f2.txt`` / ``cl_ports_f1.txt`` hold the custom-logic port lists of the AWS
shells as data (source and version in each file's header). :func:`shell_ports` reads
one; :func:`module_ports` reads the ANSI port list of a Verilog module, so tests can
hold a generated top to the shell's list, name for name, direction and width.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIRECTIONS = {"in": "input", "out": "output", "inout": "inout"}


@dataclass(frozen=True)
class Port:
    direction: str  # input | output | inout
    width: int
    name: str


def shell_ports(shell: str) -> list[Port]:
    """The transcribed custom-logic ports of ``shell`` (``f2`` or ``f1``), in order."""
    path = HERE / f"cl_ports_{shell}.txt"
    ports: list[Port] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] not in DIRECTIONS or not fields[1].isdigit():
            raise ValueError(f"{path}:{number}: expected 'in|out|inout WIDTH NAME': {line!r}")
        ports.append(Port(DIRECTIONS[fields[0]], int(fields[1]), fields[2]))
    return ports


def source_note(shell: str) -> str:
    """The header lines of a port file (where it was transcribed from)."""
    lines = (HERE / f"cl_ports_{shell}.txt").read_text().splitlines()
    return "\n".join(line[2:] for line in lines if line.startswith("# "))


_PORT_RE = re.compile(r"^\s*(input|output|inout)\s+(?:wire|logic|reg)?\s*"
                      r"(?:\[(\d+)\s*:\s*(\d+)\])?\s*([A-Za-z_][A-Za-z0-9_$]*)\s*,?\s*$")


def module_ports(verilog: str, module: str) -> list[Port]:
    """The ANSI-style ports of ``module`` in ``verilog`` (one port per line)."""
    start = re.search(rf"^\s*module\s+{re.escape(module)}\b[^(]*\(", verilog, re.MULTILINE)
    if start is None:
        raise ValueError(f"no module {module}")
    ports: list[Port] = []
    for line in verilog[start.end():].splitlines():
        if line.strip().startswith(");"):
            return ports
        match = _PORT_RE.match(line.split("//")[0])
        if match:
            direction, high, low, name = match.groups()
            width = int(high) - int(low) + 1 if high is not None else 1
            ports.append(Port(direction, width, name))
    raise ValueError(f"module {module}: port list not closed")
