"""cocotb testbench of the PCIS adapter's generated Verilog, driven by cocotbext-axi's
``AxiMaster`` as the shell's DMA_PCIS (run by ``tests/hw/platforms/test_pcis_cocotb.py``
on :class:`~nanogate.hw.platforms.pcis.PcisAdapter` built with ``sizes=True``).

The host side is the driver's own: frames from :func:`nanogate.proto.aws_map.packet_frame`
and records from :func:`nanogate.gateway.device.aws.records_to_beats`; the master splits
them into bursts at 4 KiB and uses partial strobes for unaligned starts and ends.
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiMaster
from cocotbext.axi.constants import AxiResp

from nanogate.gateway.device.aws import records_to_beats
from nanogate.proto import aws_map
from nanogate.proto.risk import ORDER, ORDER_DTYPE

BEAT = aws_map.BEAT_BYTES


async def _setup(dut: Any) -> AxiMaster:
    Clock(dut.clk, 4, unit="ns").start()
    dut.rst.value = 1
    for name in ("feed__ready", "orders__ready", "updates__ready", "records__valid",
                 "decisions__valid", "records_pop_stb", "decisions_pop_stb",
                 "pcis__awvalid", "pcis__wvalid", "pcis__arvalid"):  # none X before the master
        getattr(dut, name).value = 0
    # Icarus runs an `always @*` block only on a change of what it reads: the read FSM's
    # state is 0 from time 0 and through reset, so knock it off 0 for the reset to restore
    dut.read_state.value = 2
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    return AxiMaster(AxiBus.from_prefix(dut, "pcis_"), dut.clk, dut.rst)


async def _take(dut: Any, prefix: str, sink: list[int], rng: random.Random) -> None:
    """Consume a stream with random back-pressure, forever."""
    valid, ready, payload = (getattr(dut, f"{prefix}__{m}") for m in ("valid", "ready",
                                                                      "payload"))
    while True:
        ready.value = int(rng.random() < 0.7)
        await RisingEdge(dut.clk)
        if int(valid.value) and int(ready.value):
            sink.append(int(payload.value))


def _payloads(words: list[int]) -> list[bytes]:
    """Feed-stream words (data | keep << 64 | last << 72) back into payloads."""
    out, current = [], bytearray()
    for word in words:
        keep = word >> 64 & 0xFF
        current += (word & (1 << 64) - 1).to_bytes(8, "little")[:bin(keep).count("1")]
        if word >> 72 & 1:
            out.append(bytes(current))
            current = bytearray()
    return out


@cocotb.test()
async def test_packets_and_orders_through_axi_master(dut: Any) -> None:
    master = await _setup(dut)
    rng = random.Random(11)
    words: list[int] = []
    orders_seen: list[int] = []
    cocotb.start_soon(_take(dut, "feed", words, rng))
    cocotb.start_soon(_take(dut, "orders", orders_seen, rng))
    payloads = [rng.randbytes(n) for n in (20, 64, 300, 1, 1500, 77)]
    stream = b"".join(aws_map.packet_frame(p) for p in payloads)
    # one long write (bursts of up to 64 beats at 4 KiB) and one in unaligned pieces,
    # which the master sends with partial strobes at both ends of each piece
    assert (await master.write(aws_map.PACKET_WINDOW, stream)).resp == AxiResp.OKAY
    offset, cuts = 0x8000, sorted(rng.sample(range(1, len(stream)), 9))
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        resp = await master.write(aws_map.PACKET_WINDOW + offset + start, stream[start:end])
        assert resp.resp == AxiResp.OKAY
    orders = np.zeros(50, dtype=ORDER_DTYPE)
    orders["client_order_id"] = np.arange(50) + 1000
    orders["quantity"] = np.arange(50) * 7
    data = records_to_beats(ORDER, orders)
    assert (await master.write(aws_map.ORDER_WINDOW, data)).resp == AxiResp.OKAY
    for _ in range(2000):
        await RisingEdge(dut.clk)
        if len(orders_seen) == 50 and len(_payloads(words)) == 2 * len(payloads):
            break
    assert _payloads(words) == payloads * 2
    mask = (1 << ORDER.bits) - 1
    assert orders_seen == [int.from_bytes(data[i:i + BEAT], "little") & mask
                           for i in range(0, len(data), BEAT)]
    assert int(dut.framing_errors.value) == 0
    assert int(dut.stall_cycles.value) > 0  # the 8-byte feed side held the bursts back


@cocotb.test()
async def test_rings_and_error_responses(dut: Any) -> None:
    master = await _setup(dut)
    rng = random.Random(12)
    records = [rng.getrandbits(len(dut.records__payload)) for _ in range(20)]
    for record in records:
        dut.records__valid.value = 1
        dut.records__payload.value = record
        await RisingEdge(dut.clk)
        while not int(dut.records__ready.value):
            await RisingEdge(dut.clk)
    dut.records__valid.value = 0
    await RisingEdge(dut.clk)
    assert int(dut.records_ready.value) == 20
    got = await master.read(aws_map.RECORD_WINDOW, 20 * BEAT)
    assert got.resp == AxiResp.OKAY
    assert [int.from_bytes(got.data[i:i + BEAT], "little") for i in range(0, 20 * BEAT, BEAT)] \
        == records
    part = await master.read(aws_map.RECORD_WINDOW + 3 * BEAT + 8, 16)  # a partial read
    assert part.data == records[3].to_bytes(BEAT, "little")[8:24]
    bad = await master.write(0x30000, bytes(2 * BEAT))
    assert bad.resp == AxiResp.SLVERR
    bad_read = await master.read(aws_map.ORDER_WINDOW, BEAT)
    assert bad_read.resp == AxiResp.SLVERR and bad_read.data == bytes(BEAT)
    assert int(dut.write_errors.value) == 1 and int(dut.read_errors.value) == 1
