"""cocotb testbench of the feed parser's generated Verilog (``FeedParserTop``), under Icarus.

cocotbext-axi drives it: ``AxiStreamSource`` on ``s_axis`` (payloads, one frame
each), ``AxiStreamSink`` on ``m_axis`` (one BookEvent per frame),
``AxiLiteMaster`` on ``bus`` (registers, offsets from ``FEED_REGS``). Both
streams get random pauses. The scoreboard is the software model
(:class:`nanogate.gateway.device.software_feed.SoftwareFeedParser`) fed the
same payloads: every record and every counter must equal its.

Environment (set by tests/sim/test_feed_cocotb.py): ``FEED_TB_FILTER_DEPTH``
(the ``filter_depth`` the Verilog was built with), ``FEED_TB_SAMPLE`` (path of
the sample BinaryFILE, for ``test_sample_file``), ``FEED_TB_COVERAGE`` (where
to write the coverage report), ``FEED_TB_MESSAGES`` (size of the random run).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.hw.feed.mutants import corner_cases, straddling_long_prefix
from nanogate.hw.feed.stimulus import (
    coverage,
    coverage_goal,
    coverage_report,
    every_type_messages,
    messages_of,
    records_to_array,
    sample_packets,
    stream_of_packets,
)
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, TIMING_COUNTERS

OFFSETS = FEED_REGS.offsets()


def _pauses(probability: float) -> Iterator[int]:
    while True:
        yield int(random.random() < probability)


class Bench:
    def __init__(self, dut: Any, pause: float) -> None:
        self.dut = dut
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_"), dut.clk, dut.rst)
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "bus_"), dut.clk, dut.rst)
        if pause:
            self.source.set_pause_generator(_pauses(pause))
            self.sink.set_pause_generator(_pauses(pause))
        self.model = SoftwareFeedParser()

    async def start(self) -> None:
        Clock(self.dut.clk, 4, unit="ns").start()
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def write(self, name: str, value: int) -> None:
        await self.master.write_dword(OFFSETS[name], value)
        self.model.write_register(name, value)

    async def run(self, payloads: Sequence[bytes]) -> np.ndarray:
        """Send ``payloads``; check every record against the model; return the records."""
        want = self.model.push(payloads)
        for payload in payloads:
            await self.source.send(AxiStreamFrame(payload))
        got = []
        for index in range(len(want)):
            frame = await with_timeout(self.sink.recv(), 200 + 40 * len(payloads), "us")
            got.append(int.from_bytes(bytes(frame.tdata), "little"))
            row = records_to_array(got[-1:])[0]
            assert row.tolist() == want[index].tolist(), (
                f"record {index}: hardware {row.tolist()} != software {want[index].tolist()}")
        await self.source.wait()
        for _ in range(20):  # nothing more may come out
            await RisingEdge(self.dut.clk)
        assert self.sink.empty(), "more records than the software model produced"
        await self.check_counters()
        return records_to_array(got) if got else want

    async def check_counters(self) -> None:
        for name in COUNTER_NAMES:
            register = FEED_REGS.register(name)
            if register.width > 32:
                value = await self.master.read_qword(OFFSETS[name])
            else:
                value = await self.master.read_dword(OFFSETS[name])
            if name in TIMING_COUNTERS:
                continue
            assert value == self.model.read_register(name), (
                f"counter {name}: hardware {value}, software {self.model.read_register(name)}")


def _messages() -> int:
    return int(os.environ.get("FEED_TB_MESSAGES", "150"))


@cocotb.test()
async def test_random_faulty_packets(dut: Any) -> None:
    """Synthetic packets with faults of every kind, random pauses on both streams."""
    bench = Bench(dut, pause=0.3)
    await bench.start()
    rng = random.Random(random.getrandbits(32))
    messages = messages_of(_messages(), rng.randrange(1000)) + every_type_messages(rng)
    rng.shuffle(messages)
    # the fixed corner cases guarantee a truncated block and a zero-length one, whatever
    # the seed draws
    payloads = [*stream_of_packets(rng, messages), straddling_long_prefix(), *corner_cases()]
    await bench.run(payloads)
    counters = bench.model.counters()
    assert counters["records"] > 0 and counters["bad_length"] + counters["truncated"] > 0


@cocotb.test()
async def test_filter_through_axi_lite(dut: Any) -> None:
    """The filter table written over AXI-Lite: only the marked locates come out."""
    depth = int(os.environ.get("FEED_TB_FILTER_DEPTH", "256"))
    bench = Bench(dut, pause=0.2)
    await bench.start()
    for locate in (1, 3, depth - 1):
        await bench.write("filter_write", 1 << 16 | locate)
    await bench.write("filter_enable", 1)
    payloads = [p.encode() for p in moldudp64.packetize("FILTER", messages_of(300, 3))]
    got = await bench.run(payloads)
    assert set(got["stock_locate"].tolist()) <= {1, 3}
    assert bench.model.read_register("filtered") > 0


@cocotb.test()
async def test_every_type_every_lane(dut: Any) -> None:
    """Each type after fillers that move it through every lane and place in a packet."""
    bench = Bench(dut, pause=0.1)
    await bench.start()
    rng = random.Random(7)
    payloads = []
    sequence = 1
    for message in every_type_messages(rng):
        for pad in range(8):
            filler = b"S" + rng.randbytes(11)
            # a padded filler is a bad length, and moves the messages after it a lane on
            blocks = [message, filler + bytes(pad), message, message]
            payloads.append(moldudp64.encode_packet("LANES", sequence, blocks))
            sequence += len(blocks)
            payloads.append(moldudp64.encode_packet("LANES", sequence, [message]))
            sequence += 1
    await bench.run(payloads)
    hit = coverage(payloads)
    report = coverage_report(hit)
    dut._log.info("\n%s", report)
    target = os.environ.get("FEED_TB_COVERAGE")
    if target:
        Path(target).write_text(report)
    goal = coverage_goal()
    for name, wanted in goal.items():
        assert wanted <= hit[name], f"{name} bins missed: {sorted(wanted - hit[name])[:5]}"


@cocotb.test(skip="FEED_TB_SAMPLE" not in os.environ)
async def test_sample_file(dut: Any) -> None:
    """The public sample, reframed into 1400-byte MoldUDP64 packets, at full speed.

    ``FEED_TB_PACKETS`` packets of it (all by default; cocotbext-axi runs a few
    hundred cycles a second here, so CI takes the first ones and the benchmark,
    in the Amaranth simulator, checks the whole file).
    """
    bench = Bench(dut, pause=0.0)
    await bench.start()
    payloads = sample_packets(Path(os.environ["FEED_TB_SAMPLE"]).read_bytes())
    payloads = payloads[:int(os.environ.get("FEED_TB_PACKETS", len(payloads)))]
    got = await bench.run(payloads)
    assert len(got) == bench.model.read_register("records") > 0
