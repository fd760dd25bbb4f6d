"""``nanogate deploy pynq``: copy a bitstream and its .hwh to a PYNQ board and load it there.

Three steps over ssh/scp (``BatchMode``, so a missing key fails instead of
prompting): make the remote folder, copy ``NAME.bit`` and ``NAME.hwh`` (renamed to
one stem when they differ, as ``pynq.Overlay`` looks for the .hwh beside the .bit),
and load them with the board's PYNQ Python (root, as PYNQ requires), which prints
the IP blocks the overlay found.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nanogate.hw.deploy.tools import ToolError, run_tool

#: The Python of the PYNQ image's virtual environment (PYNQ 3 / 4 on Kria).
REMOTE_PYTHON = "/usr/local/share/pynq-venv/bin/python3"
REMOTE_DIR = "/home/xilinx/nanogate"
_HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]%-]+$")
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15")
_LOAD = ("import pynq, sys; o = pynq.Overlay(sys.argv[1]); "
         "print('loaded', sys.argv[1]); print('ip', ' '.join(sorted(o.ip_dict)))")


class PynqDeployError(RuntimeError):
    pass


@dataclass(frozen=True)
class Deployed:
    remote_bit: str
    ip: tuple[str, ...]


def check_inputs(host: str, user: str, bitstream: Path, hwh: Path) -> None:
    if not host or host.startswith("-") or not _HOST_RE.match(host):
        raise PynqDeployError(f"--host {host!r} is not a host name or address")
    if not _USER_RE.match(user):
        raise PynqDeployError(f"--user {user!r} is not a user name")
    for path, suffix in ((bitstream, ".bit"), (hwh, ".hwh")):
        if path.suffix != suffix:
            raise PynqDeployError(f"{path}: expected a {suffix} file")
        if not path.is_file():
            raise PynqDeployError(f"{path}: no such file")


def deploy(host: str, bitstream: Path, hwh: Path, *, user: str = "xilinx",
           remote_dir: str = REMOTE_DIR, remote_python: str = REMOTE_PYTHON,
           say: Callable[[str], None] = print) -> Deployed:
    check_inputs(host, user, bitstream, hwh)
    target = f"{user}@{host}"
    stem = bitstream.stem
    remote_bit = f"{remote_dir}/{stem}.bit"
    remote_hwh = f"{remote_dir}/{stem}.hwh"
    steps: list[tuple[str, list[str]]] = [
        ("mkdir", ["ssh", *SSH_OPTIONS, target, f"mkdir -p {shlex.quote(remote_dir)}"]),
        ("copy .bit", ["scp", "-q", *SSH_OPTIONS, str(bitstream), f"{target}:{remote_bit}"]),
        ("copy .hwh", ["scp", "-q", *SSH_OPTIONS, str(hwh), f"{target}:{remote_hwh}"]),
        ("load", ["ssh", *SSH_OPTIONS, target,
                  shlex.join(["sudo", remote_python, "-c", _LOAD, remote_bit])]),
    ]
    output = ""
    for what, argv in steps:
        say(f"{what}: {shlex.join(argv)}")
        try:
            output = run_tool(argv, hint="install the OpenSSH client").stdout
        except ToolError as error:
            message = str(error)
            if "exit status 255" in message:
                message += f"\n(ssh could not reach {target}: is the board up, and your key in " \
                           f"~{user}/.ssh/authorized_keys?)"
            raise PynqDeployError(f"{what} failed: {message}") from None
    ip: tuple[str, ...] = ()
    loaded = False
    for line in output.splitlines():
        if line.startswith("loaded "):
            loaded = True
        elif line.startswith("ip "):
            ip = tuple(line.split()[1:])
    if not loaded:
        raise PynqDeployError(f"the board did not confirm the load:\n{output.strip()}")
    say(f"{host}: {remote_bit} loaded; IP: {', '.join(ip) or '(none listed)'}")
    return Deployed(remote_bit, ip)
