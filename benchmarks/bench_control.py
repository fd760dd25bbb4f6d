"""Halt RPC -> register write: p50/p99 over 1,000 halts (goal p99 < 1 ms).

The server stamps each call when the auth interceptor first sees it and again when
the risk engine's register write returns (``HaltResponse.register_ns``); the round
trip seen by the client is printed beside it. Loopback, software device, one client
in its own process (as an operator's ngctl would be), so the client's Python does not
compete with the server's for the GIL.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from nanogate.control.auth import Identity
from nanogate.control.plane import ControlPlane
from nanogate.control.server import build_server
from nanogate.control.store import Store
from nanogate.gateway.device import open_device
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.controlapi import control_pb2_grpc as rpc

TOKEN = "bench-token-0123456789abcdef"


def _client(port: int, halts: int) -> tuple[list[int], list[int]]:
    auth = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        risk, trading = rpc.RiskServiceStub(channel), rpc.TradingServiceStub(channel)
        risk.SetInstrumentLimits(pb.SetInstrumentLimitsRequest(
            limits=pb.InstrumentLimits(symbol="AAPL", stock_locate=1, max_qty=1000),
            register_symbol=True), metadata=auth, timeout=10)
        target = pb.Target(scope=pb.SCOPE_INSTRUMENT, symbol="AAPL")
        server_ns, client_ns = [], []
        for index in range(halts):
            started = time.perf_counter_ns()
            reply = trading.Halt(pb.HaltRequest(target=target, reason=f"bench {index}"),
                                 metadata=auth, timeout=10)
            client_ns.append(time.perf_counter_ns() - started)
            server_ns.append(reply.register_ns)
            trading.Resume(pb.ResumeRequest(target=target), metadata=auth, timeout=10)
    return server_ns, client_ns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--halts", type=int, default=1000)
    parser.add_argument("--device", default="software", choices=("software", "rtl-sim"))
    parser.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db", synchronous=args.synchronous)
        plane = ControlPlane(store, open_device(args.device).risk_engine(), args.device)
        tokens = {hashlib.sha256(TOKEN.encode()).digest(): Identity("bench", "admin")}
        server, port = build_server(plane, tokens, "127.0.0.1:0")
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            server_ns, client_ns = pool.apply(_client, (port, args.halts))
        server.stop(None)
        store.close()
    print(f"{args.halts} halts, device {args.device}, sqlite synchronous={args.synchronous}")
    print(f"{'path':<34}{'p50 us':>10}{'p99 us':>10}{'max us':>10}")
    for name, samples in (("halt RPC arrival -> register write", server_ns),
                          ("client round trip (incl. audit)", client_ns)):
        a = np.array(samples, dtype=np.float64) / 1e3
        print(f"{name:<34}{np.percentile(a, 50):>10.1f}{np.percentile(a, 99):>10.1f}"
              f"{a.max():>10.1f}")
    p99 = float(np.percentile(np.array(server_ns), 99)) / 1e6
    print(f"goal p99 < 1 ms: {'met' if p99 < 1 else 'NOT met'} ({p99:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
