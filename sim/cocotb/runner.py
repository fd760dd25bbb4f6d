"""Run cocotb testbenches against Amaranth components under Icarus Verilog.

:func:`run_cocotb` converts a component to Verilog, builds it with cocotb's Icarus
runner and runs the cocotb tests of one module against it, all under a directory the
caller gives (pytest's ``tmp_path``), so pytest-xdist workers never share a build.
A failing, erroring or missing cocotb test raises :class:`CocotbFailure` (an
``AssertionError``), which fails the calling pytest test. ::

    def test_smoke(tmp_path):
        run_cocotb(PacketCounter(), toplevel="packet_counter",
                   test_module="nanogate.sim.cocotb.tb_smoke", build_dir=tmp_path)

Test modules are imported by their dotted name (``nanogate.sim.cocotb.tb_xxx``):
the simulator's embedded Python starts from this virtualenv (cocotb passes it
``sys.executable``), so its ``site-packages`` and the editable install's import hook
are active there as in pytest, and ``sys.path`` is handed over too. No directory of
ours goes on ``sys.path``; in particular never ``sim/``, whose ``cocotb`` folder
would shadow the real cocotb.

Verilog port names. ``amaranth.back.verilog.convert(component, name=...)`` takes
the ports from the component's signature and joins member paths with a double
underscore. A ``stream.Signature`` member ``i`` becomes three ports:

* ``i__valid`` (1 bit), ``i__ready`` (1 bit), ``i__payload`` (the whole layout, flat);
* the payload is one vector: a ``data.StructLayout`` puts its first field at bit 0,
  so for :func:`nanogate.hw.layouts.beat_layout` (8 bytes) ``i__payload[63:0]`` is
  ``data``, ``[71:64]`` is ``keep`` and ``[72]`` is ``last``; direction follows the
  signature (an ``In`` stream's ``valid``/``payload`` are inputs, its ``ready`` an
  output; the reverse for an ``Out`` stream, e.g. ``o__valid``, ``o__ready``);
* plain members keep their name (``Out(32)`` member ``beats`` -> ``beats``);
* the ``sync`` domain adds ``clk`` and ``rst`` (synchronous, active high).

The payload's fields also appear as internal wires with escaped names
(``\\i__payload.data``); testbenches should slice the port instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from amaranth.back import verilog
from cocotb_tools.runner import get_runner

__all__ = [
    "TIMESCALE",
    "CocotbFailure",
    "CocotbResult",
    "have_icarus",
    "run_cocotb",
    "write_verilog",
]

#: Time unit and precision given to Icarus (the generated Verilog has no `timescale).
TIMESCALE = ("1ns", "1ps")


class CocotbFailure(AssertionError):
    """A cocotb run that did not pass: a failed or erroring test, none run, or a crash."""


@dataclass(frozen=True)
class CocotbResult:
    """What one cocotb run reported, read from its xUnit results file."""

    results_xml: Path
    passed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    #: test name -> the failure or error text cocotb recorded
    failed: dict[str, str] = field(default_factory=dict)
    seed: str | None = None

    @property
    def tests(self) -> int:
        return len(self.passed) + len(self.skipped) + len(self.failed)

    @property
    def ok(self) -> bool:
        return bool(self.passed) and not self.failed


def have_icarus() -> bool:
    """Whether Icarus Verilog (``iverilog`` and ``vvp``) is on ``PATH``."""
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def write_verilog(component: object, toplevel: str, directory: Path) -> Path:
    """Convert an Amaranth ``wiring.Component`` to ``directory/<toplevel>.v``.

    The ports are the members of the component's signature (see the module docs for
    their names), plus ``clk``/``rst`` for each clock domain it uses.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{toplevel}.v"
    path.write_text(verilog.convert(component, name=toplevel))
    return path


def read_results(results_xml: Path) -> CocotbResult:
    """Parse a cocotb xUnit results file; raise :class:`CocotbFailure` if it is missing."""
    if not results_xml.is_file():
        raise CocotbFailure(
            f"simulation ended without writing {results_xml}: the simulator or cocotb crashed"
            " (see the captured output)")
    passed: list[str] = []
    skipped: list[str] = []
    failed: dict[str, str] = {}
    seed: str | None = None
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        name = case.get("name", "?")
        for prop in case.iter("property"):
            if prop.get("name") == "random_seed":
                seed = prop.get("value", seed)
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed[name] = (problem.get("message") or problem.text or problem.tag).strip()
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed.append(name)
    return CocotbResult(results_xml, tuple(passed), tuple(skipped), failed, seed)


def run_cocotb(
    component: object,
    *,
    toplevel: str,
    test_module: str,
    build_dir: Path,
    testcase: str | None = None,
    seed: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    waves: bool = False,
    check: bool = True,
) -> CocotbResult:
    """Build ``component`` as Verilog module ``toplevel`` and run ``test_module`` on it.

    ``build_dir`` holds everything: the Verilog, Icarus' build (``sim_build/``), the
    results file and, with ``waves``, ``sim_build/<toplevel>.fst``. ``testcase``
    restricts the run to one cocotb test. ``seed`` fixes cocotb's random seed
    (``COCOTB_RANDOM_SEED`` in the environment also works); a failure message names
    the seed that was used. With ``check`` (the default) anything but all tests
    passing raises :class:`CocotbFailure`; otherwise the result is just returned.
    """
    if not have_icarus():
        raise RuntimeError("Icarus Verilog (iverilog, vvp) is not on PATH")
    build_dir = Path(build_dir).resolve()
    sim_build = build_dir / "sim_build"
    source = write_verilog(component, toplevel, build_dir)
    results_xml = build_dir / "results.xml"

    runner = get_runner("icarus")
    runner.build(
        sources=[source],
        hdl_toplevel=toplevel,
        build_dir=sim_build,
        always=True,
        timescale=TIMESCALE,
        waves=waves,
    )
    env = dict(extra_env or {})
    # Under pytest, cocotb's runner exits on a failed test or a crashed simulator; the
    # results file (or its absence) says which, so carry on and read it.
    with contextlib.suppress(SystemExit):
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            build_dir=sim_build,
            test_dir=build_dir,
            results_xml=os.fspath(results_xml),
            testcase=testcase,
            seed=seed,
            extra_env=env,
            waves=waves,
            timescale=TIMESCALE,
        )

    result = read_results(results_xml)
    if check:
        if result.failed:
            lines = [f"{toplevel}: {len(result.failed)} of {result.tests} cocotb tests failed"
                     f" (COCOTB_RANDOM_SEED={result.seed})"]
            lines += [f"  {name}: {why}" for name, why in result.failed.items()]
            raise CocotbFailure("\n".join(lines))
        if not result.passed:
            raise CocotbFailure(f"{toplevel}: no cocotb test of {test_module!r} passed"
                                f" ({result.tests} ran, {len(result.skipped)} skipped)")
    return result
