"""``nanogate gateway bench``: publisher, rewinder and gateway on loopback, measured.

The exchange (publisher + rewinder) runs in a process of its own, the
receive process in another, the worker in this one. Also measures the raw
``recvmmsg`` drain rate of a pre-filled socket, the yardstick for the
Python receive path.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from queue import Empty
from typing import Any

import numpy as np

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.arbiter import ArbiterConfig, State
from nanogate.gateway.net.ring import Ring
from nanogate.gateway.net.runner import Gateway, GatewayConfig
from nanogate.gateway.net.rx import BurstReceiver
from nanogate.gateway.net.sockets import open_receiver


@dataclass
class BenchConfig:
    messages: int = 1_000_000
    loss: float = 0.05
    rate: float | None = None
    instruments: int = 64
    seed: int = 1
    device: str = "software"
    books: bool = True
    timeout_s: float = 120.0
    busy_poll: bool = False  # receive process and worker spin instead of sleeping
    inline_receive: bool = False  # the worker receives itself (no receive process)
    spin_us: int = 50  # the worker looks again this long before sleeping
    device_options: dict[str, Any] = field(default_factory=dict)  # --device-option


def _exchange(config: BenchConfig, lines: tuple[Endpoint, Endpoint], out: Any,
              go: EventType, done: EventType) -> None:
    from nanogate.sim.publisher import LineFaults, Publisher, PublisherConfig, store_from_synthetic
    from nanogate.sim.rewinder import Rewinder

    store = store_from_synthetic(config.messages, config.instruments, config.seed)
    faults = LineFaults(loss=config.loss)
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        out.put(("rewinder", tuple(rewinder.address)))
        go.wait(60)
        publisher_config = PublisherConfig(lines[0], lines[1], rate=config.rate,
                                           faults_a=faults, faults_b=faults, seed=config.seed,
                                           heartbeats=3, heartbeat_interval_s=0.01)
        with Publisher(publisher_config, store) as publisher:
            stats = publisher.run()
            out.put(("published", (stats.messages, stats.packets, stats.seconds)))
            publisher.linger(done.is_set, config.timeout_s, 0.05)
        out.put(("rewinder_stats", (rewinder.stats.requests, rewinder.stats.answered)))


def run_bench(config: BenchConfig) -> dict[str, Any]:
    rng = random.Random(os.getpid() ^ time.time_ns())
    port = rng.randrange(20000, 60000)
    lines = (Endpoint(f"239.255.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}", port),
             Endpoint(f"239.255.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}", port + 1))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    go, done = context.Event(), context.Event()
    exchange = context.Process(target=_exchange, args=(config, lines, out, go, done),
                               name="nanogate-exchange", daemon=True)
    exchange.start()
    results: dict[str, Any] = {}
    try:
        kind, value = out.get(timeout=120)
        rewinder = Endpoint(*value)
        arbiter = ArbiterConfig(gap_wait_ns=2_000_000, request_timeout_ns=100_000_000,
                                max_retries=10, max_request=2000)
        gateway_config = GatewayConfig(lines[0], lines[1], rewinder, device=config.device,
                                       exit_on_end_of_session=True, books=config.books,
                                       max_seconds=config.timeout_s, arbiter=arbiter,
                                       busy_poll=config.busy_poll,
                                       inline_receive=config.inline_receive,
                                       spin_us=config.spin_us,
                                       device_options=config.device_options)
        with Gateway(gateway_config) as gateway:
            first: list[int] = []

            def mark(events: np.ndarray) -> None:
                if not first and len(events):
                    first.append(time.perf_counter_ns())

            gateway.subscribers.append(mark)
            go.set()
            gateway.run()
            finished = time.perf_counter_ns()
            gateway.finish()
            counters = gateway.counters()
            latency = gateway.latency.summary_us()
            ended = gateway.arbiter.state is State.ENDED
            state = gateway.arbiter.state.value
        done.set()
        while True:
            try:
                kind, value = out.get(timeout=10)
            except Empty:
                break
            results[kind] = value
            if kind == "rewinder_stats":
                break
    finally:
        done.set()
        exchange.join(timeout=10)
        if exchange.is_alive():
            exchange.kill()
    seconds = (finished - first[0]) / 1e9 if first else 0.0
    delivered = counters["messages"]
    published = results.get("published", (0, 0, 0.0))
    return {
        "messages": delivered,
        "published": published[0],
        "seconds": round(seconds, 4),
        "messages_per_s": round(delivered / seconds) if seconds else 0,
        "packets_per_s": round((counters["won_a"] + counters["won_b"]
                                + counters["won_recovery"]) / seconds) if seconds else 0,
        "publisher_messages_per_s": round(published[0] / published[2]) if published[2] else 0,
        "lost": counters["lost"] + max(0, config.messages - delivered - counters["lost"]),
        "recovered": counters["recovered"],
        "duplicates_dropped": counters["duplicates"],
        "requests": counters["requests"],
        "ring_drops": counters["ring_drops"],
        "malformed": counters["malformed"],
        "ended": ended,
        "state": state,
        "books": config.books,
        "busy_poll": config.busy_poll,
        "inline_receive": config.inline_receive,
        "spin_us": config.spin_us,
        "loss_per_line": config.loss,
        "rate": config.rate,
        **latency,
    }


def raw_drain(packets: int = 20_000, size: int = 1400, burst: int = 64) -> dict[str, float]:
    """Datagrams/s that ``recvmmsg`` into the ring reaches on a pre-filled loopback socket.

    Two figures: ``raw`` counts the receive calls alone (the ring's head put back
    after every burst so the descriptors are never consumed); ``ring`` adds the
    consumer copying each payload out, as the worker does.
    """
    ring = Ring.create(slots=max(1024, 1 << (packets - 1).bit_length()), slot_size=2048)
    sock = open_receiver(Endpoint("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = BurstReceiver(ring, [(0, sock)], burst=burst)
    payload = b"x" * size
    target = sock.getsockname()
    out: dict[str, float] = {}
    try:
        for name in ("raw", "ring", "fallback"):
            receiver.use_recvmmsg = name != "fallback"
            for _ in range(packets):
                sender.sendto(payload, target)
            got = 0
            started = time.perf_counter()
            while got < packets and time.perf_counter() - started < 30:
                got += receiver.poll()
                if name == "raw":
                    ring.release(ring.used())
                else:
                    ring.dequeue(1024)
            elapsed = time.perf_counter() - started
            out[f"{name}_packets_per_s"] = round(got / elapsed)
    finally:
        receiver.close()
        sock.close()
        sender.close()
        ring.close()
    return out


def worker_cpu(messages: int = 1_000_000, loss: float = 0.05, books: bool = True,
               seed: int = 7) -> dict[str, Any]:
    """CPU seconds the worker spends per message, without the network or other processes.

    Lines A and B are put into the ring (``Ring.enqueue``, 64 packets a line in
    turn, as bursts arrive) with ``loss`` on each but never on both, so no
    rewinder is needed; the worker's own passes (``_pull_ring`` + ``_flush``:
    framing, arbiter, device, books, latency) are timed with
    ``time.process_time``, which a loaded machine disturbs far less than wall
    time.
    """
    from nanogate.sim.publisher import packets, store_from_synthetic

    store = store_from_synthetic(messages, 64, seed)
    payloads = [p for _, _, p in packets(store)]
    rng = np.random.default_rng(seed)
    lost_a = rng.random(len(payloads)) < loss
    lost_b = (rng.random(len(payloads)) < loss) & ~lost_a
    gateway = Gateway(GatewayConfig(Endpoint("239.255.0.1", 5000), books=books))
    gateway._warm_up()
    ring = gateway.ring = Ring.create(16384, 2048)
    cpu = 0.0
    try:
        for first in range(0, len(payloads), 4096):
            for start in range(first, min(first + 4096, len(payloads)), 64):
                chunk = range(start, min(start + 64, len(payloads)))
                ring.enqueue([payloads[i] for i in chunk if not lost_a[i]], 0, time.time_ns())
                ring.enqueue([payloads[i] for i in chunk if not lost_b[i]], 1, time.time_ns())
            started = time.process_time()
            while gateway._pull_ring(512):
                gateway._flush()
            gateway._flush()
            cpu += time.process_time() - started
        counters = gateway.counters()
    finally:
        gateway.ring = None
        ring.close()
    return {"messages": counters["messages"], "lost": counters["lost"],
            "cpu_s": round(cpu, 4), "messages_per_cpu_s": round(counters["messages"] / cpu),
            "held": counters["held"], "books": books}
