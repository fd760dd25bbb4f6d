"""``--device NAME`` and ``--device-option KEY=VALUE``: one way for every command to pick a
device backend and give it its options (``open_device(name, **options)``).

``add_device_arguments(parser)`` adds both; ``checked_options(backend, pairs)`` checks the
options against the backend's (names, types) and the machine (the BAR resource files of an
``aws`` device, the ``pynq`` package) and returns them ready for ``open_device``;
``device_from_args(args)`` opens the :class:`~nanogate.gateway.device.Device`. Both raise
:class:`~nanogate.gateway.device.DeviceError` saying what is missing and how to give it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nanogate.gateway import argtypes
from nanogate.gateway.device import BACKENDS, Device, DeviceError, open_device

DEVICES = tuple(BACKENDS)


def _slot(text: str) -> int:
    value = argtypes.non_negative_int(text)
    if value > 7:
        raise ValueError("FPGA slots are numbered 0..7")
    return value


#: backend -> option -> (converter, help). Backends not listed take no options.
OPTIONS: dict[str, dict[str, tuple[Callable[[str], Any], str]]] = {
    "aws": {
        "bdf": (str, "PCI address of the AFI's AppPF (DOMAIN:BUS:DEV.FN, the AFIDEVICE row "
                     "of `fpga-describe-local-image -S SLOT -H`)"),
        "slot": (_slot, "FPGA slot; its PCI address is read with fpga-describe-local-image"),
        "ocl": (str, "path of the OCL BAR (BAR0) resource file, with pcis="),
        "pcis": (str, "path of the PCIS BAR (BAR4) resource file, with ocl="),
        "timeout_s": (argtypes.positive_float, "seconds to wait for the custom logic (default 1)"),
    },
    "pynq": {
        "bitstream": (str, "the overlay's .bit (its .hwh beside it), loaded with pynq.Overlay"),
        "replay": (str, "a recorded transcript to answer from instead of a board"),
        "timeout_s": (argtypes.positive_float,
                      "seconds to wait for a DMA transfer or a counter (default 1)"),
    },
}

_EXAMPLES = "bdf=0000:34:00.0, slot=0, bitstream=nanogate.bit"


def device_option(text: str) -> tuple[str, str]:
    """argparse type of ``--device-option``: ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE (e.g. {_EXAMPLES})")
    return key.strip(), value


def add_device_arguments(parser: argparse.ArgumentParser, default: str = "software",
                         help: str | None = None) -> None:
    """Add ``--device {software,rtl-sim,aws,pynq}`` and repeatable ``--device-option``."""
    parser.add_argument(
        "--device", choices=DEVICES, default=default,
        help=help or (f"backend (default {default}): software (the golden model), rtl-sim "
                      "(the Amaranth design in simulation), aws (an F2/F1 FPGA with the "
                      "nanogate AFI loaded), pynq (a Kria board with the overlay)"))
    lines = "; ".join(f"{backend}: " + ", ".join(OPTIONS[backend]) for backend in OPTIONS)
    parser.add_argument(
        "--device-option", dest="device_options", metavar="KEY=VALUE", action="append",
        type=device_option, default=[],
        help=f"an option of the device backend (repeatable; {lines}). e.g. {_EXAMPLES}")


def device_options(backend: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The ``KEY=VALUE`` pairs as ``open_device`` keyword options, checked and converted."""
    known = OPTIONS.get(backend, {})
    options: dict[str, Any] = {}
    for key, text in pairs:
        if key not in known:
            takes = f"takes {', '.join(known)}" if known else "takes no options"
            raise DeviceError(f"--device-option {key}=...: the {backend} device {takes}")
        if key in options:
            raise DeviceError(f"--device-option {key} given twice")
        convert, _ = known[key]
        try:
            options[key] = convert(text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise DeviceError(f"--device-option {key}={text}: {error}") from None
    return options


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_device(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """What the backend needs of this machine, checked before it is opened, with the way
    to provide it. Returns the options to open it with: an aws device's BAR files found
    once here (``slot=`` runs the AWS tool, no address scans sysfs), not again per part."""
    if backend == "aws":
        from nanogate.gateway.device import aws

        ocl, pcis = aws.bar_paths(options)  # finds the AFI by its PCI ids without bdf/slot
        for path, what in ((ocl, "OCL BAR0"), (pcis, "PCIS BAR4")):
            if not Path(path).exists():
                raise DeviceError(
                    f"--device aws: no {what} resource file at {path}. On an F2/F1 instance "
                    f"load the AFI (`nanogate deploy aws load --agfi agfi-...`) and give its "
                    f"PCI address: --device-option bdf=DOMAIN:BUS:DEV.FN (the AFIDEVICE row "
                    f"of `fpga-describe-local-image -S 0 -H`) or --device-option slot=N; or "
                    f"name files standing in for the BARs: --device-option ocl=PATH "
                    f"--device-option pcis=PATH")
        located = {k: v for k, v in options.items() if k not in ("bdf", "slot")}
        return {**located, "ocl": str(ocl), "pcis": str(pcis)}
    if backend == "pynq" and "replay" not in options:
        if not _installed("pynq"):
            raise DeviceError("--device pynq needs the pynq package, on the board: "
                              "pip install 'nanogate[pynq]' (or --device-option "
                              "replay=TRANSCRIPT to answer from a recording)")
        if "bitstream" not in options:
            raise DeviceError("--device pynq needs the overlay: --device-option "
                              "bitstream=PATH/nanogate.bit (nanogate.hwh beside it)")
    return options


def checked_options(backend: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``--device-option`` pairs converted and checked against ``backend`` and this machine:
    the keyword options of ``open_device`` (DeviceError saying what is wrong if not)."""
    return check_device(backend, device_options(backend, pairs))


def device_from_args(args: argparse.Namespace) -> Device:
    """The device ``--device`` and ``--device-option`` name, checked (DeviceError if not)."""
    options = checked_options(args.device, getattr(args, "device_options", None) or [])
    return open_device(args.device, **options)
