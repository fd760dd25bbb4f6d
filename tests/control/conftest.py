"""A control-plane server on loopback (port 0) and an ngctl runner for the tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from nanogate.control import ngctl
from nanogate.control.auth import Identity
from nanogate.control.plane import ControlPlane
from nanogate.control.server import Tls, build_server
from nanogate.control.store import Store
from nanogate.gateway.device import open_device

TOKENS = {role: f"{role}-token-0123456789abcdef" for role in ("viewer", "trader", "risk",
                                                               "admin")}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


def token_table() -> dict[bytes, Identity]:
    return {hashlib.sha256(t.encode()).digest(): Identity(role, role)
            for role, t in TOKENS.items()}


@dataclass
class Harness:
    db: Path
    server: grpc.Server | None = None
    plane: ControlPlane | None = None
    address: str = ""
    tls: Tls | None = None

    def start(self) -> Harness:
        store = Store(self.db, synchronous="NORMAL")
        self.plane = ControlPlane(store, open_device("software", instruments=64,
                                                     accounts=16).risk_engine())
        self.server, port = build_server(self.plane, token_table(), "127.0.0.1:0", self.tls,
                                         workers=24)
        self.address = f"{'localhost' if self.tls else '127.0.0.1'}:{port}"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(None).wait()
        if self.plane is not None:
            self.plane.store.close()
        self.server = self.plane = None

    def restart(self) -> Harness:
        self.stop()
        return self.start()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "control.db").start()
    yield h
    h.stop()


@pytest.fixture
def ctl(harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path):  # type: ignore[no-untyped-def]
    """ctl(*argv, role="admin") -> (exit code, stdout, stderr)."""
    monkeypatch.setenv("NGCTL_CONFIG", str(tmp_path / "no-config.yaml"))
    for name in ("NANOGATE_ADDR", "NANOGATE_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str, role: str | None = "admin") -> tuple[int, str, str]:
        auth = ["--token", TOKENS[role]] if role else []
        code = ngctl.main(["--server", harness.address, *auth, "--timeout", "5", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[object]:
    """make_harness(tls) -> a started Harness on its own database (stopped afterwards)."""
    started: list[Harness] = []

    def make(tls: Tls | None = None) -> Harness:
        h = Harness(tmp_path / f"h{len(started)}.db", tls=tls).start()
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop()


@pytest.fixture
def tokens() -> dict[str, str]:
    """The test server's bearer token of each role."""
    return dict(TOKENS)
