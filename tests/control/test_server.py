"""Audit tampering, mTLS, concurrency, event streaming, health, reflection, serve."""

from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from nanogate.control import ngctl
from nanogate.control.server import Tls
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.controlapi import control_pb2_grpc as rpc

Ctl = Any
TOKEN = "admin-token-0123456789abcdef"


def _auth() -> dict[str, Any]:
    return {"metadata": (("authorization", f"Bearer {TOKEN}"),), "timeout": 5}


@pytest.mark.parametrize(("column", "value"), [("after", '{"x":1}'), ("actor", "mallory"),
                                               ("prev_hash", "0" * 64)])
def test_tampering_is_found_and_named(harness: Any, ctl: Ctl, column: str, value: str) -> None:
    for index in range(5):
        ctl("symbols", f"S{index}={index}")
    assert ctl("audit", "verify")[0] == 0
    with sqlite3.connect(harness.db) as db:
        db.execute(f"UPDATE audit SET {column}=? WHERE id=3", (value,))
    code, out, _ = ctl("audit", "verify")
    assert code == 1 and "BROKEN at row 3" in out


def test_deleted_rows_are_found(harness: Any, ctl: Ctl) -> None:
    for index in range(4):
        ctl("symbols", f"S{index}={index}")
    with sqlite3.connect(harness.db) as db:
        db.execute("DELETE FROM audit WHERE id=4")
    code, out, _ = ctl("audit", "verify")
    assert code == 1 and "row 4" in out
    with sqlite3.connect(harness.db) as db:
        db.execute("DELETE FROM audit WHERE id=2")
    assert "BROKEN at row 3" in ctl("audit", "verify")[1]


def _cert(subject: str, issuer: Any, key: Any, signer: Any, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_pki(folder: Path) -> None:
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = _cert("test-ca", ca_name, ca_key, ca_key, True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("localhost" if name == "server" else "ops", ca_name, key, ca_key, False)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(pem))
        (folder / f"{name}.key").write_bytes(key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_mutual_tls(tmp_path: Path, make_harness: Any, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    _write_pki(tmp_path)
    monkeypatch.setenv("NGCTL_CONFIG", str(tmp_path / "none.yaml"))
    h = make_harness(Tls(tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"))
    base = ["-s", h.address, "--token", TOKEN, "--ca", str(tmp_path / "ca.pem")]
    client = ["--cert", str(tmp_path / "client.pem"), "--key", str(tmp_path / "client.key")]
    assert ngctl.main([*base, *client, "get", "halts"]) == 0
    capsys.readouterr()
    assert ngctl.main([*base, "--timeout", "2", "get", "halts"]) == 1  # no client cert
    assert "unavailable" in capsys.readouterr().err
    # the config file supplies what flags and environment do not
    (tmp_path / "ngctl.yaml").write_text(
        f"address: {h.address}\ntoken: {TOKEN}\nca: {tmp_path / 'ca.pem'}\n"
        f"cert: {tmp_path / 'client.pem'}\nkey: {tmp_path / 'client.key'}\n")
    assert ngctl.main(["--config", str(tmp_path / "ngctl.yaml"), "status"]) == 0


def test_server_tls_without_client_ca(tmp_path: Path, make_harness: Any,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS but not mTLS: the server proves itself; clients need the CA and a token only."""
    _write_pki(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _write_pki(other)  # a second CA, which did not sign the server's certificate
    monkeypatch.setenv("NGCTL_CONFIG", str(tmp_path / "none.yaml"))
    for name in ("NANOGATE_ADDR", "NANOGATE_TOKEN", "NANOGATE_CA", "NANOGATE_CERT",
                 "NANOGATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    h = make_harness(Tls(tmp_path / "server.pem", tmp_path / "server.key"))
    base = ["-s", h.address, "--timeout", "3"]
    ca = ["--ca", str(tmp_path / "ca.pem")]
    assert ngctl.main([*base, "--token", TOKEN, *ca, "get", "halts"]) == 0  # no client cert
    assert ngctl.main([*base, "--token", TOKEN, *ca, "halt", "--all", "--reason", "tls",
                       "--yes"]) == 0
    client = ["--cert", str(tmp_path / "client.pem"), "--key", str(tmp_path / "client.key")]
    assert ngctl.main([*base, "--token", TOKEN, *ca, *client, "status"]) == 0  # not asked for
    capsys.readouterr()
    assert ngctl.main([*base, *ca, "status"]) == 3  # TLS does not stand in for the token
    assert "unauthenticated" in capsys.readouterr().err
    assert ngctl.main([*base, "--token", TOKEN, "status"]) == 1  # plaintext to a TLS port
    capsys.readouterr()
    assert ngctl.main([*base, "--token", TOKEN, "--ca", str(other / "ca.pem"), "status"]) == 1
    assert "unavailable" in capsys.readouterr().err  # the server's certificate is not trusted
    monkeypatch.setenv("NANOGATE_CA", str(tmp_path / "ca.pem"))  # the CA from the environment
    assert ngctl.main([*base, "--token", TOKEN, "get", "halts", "-o", "json"]) == 0
    assert '"kill_switch": true' in capsys.readouterr().out


def test_concurrent_clients(harness: Any) -> None:
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with grpc.insecure_channel(harness.address) as channel:
                trading = rpc.TradingServiceStub(channel)
                risk = rpc.RiskServiceStub(channel)
                risk.SetSymbols(pb.SetSymbolsRequest(symbols=[
                    pb.Symbol(symbol=f"C{index}", stock_locate=index)]), **_auth())
                for _ in range(5):
                    trading.Halt(pb.HaltRequest(target=pb.Target(
                        scope=pb.SCOPE_INSTRUMENT, symbol=f"C{index}"), reason="load"),
                        **_auth())
                    trading.Resume(pb.ResumeRequest(target=pb.Target(
                        scope=pb.SCOPE_INSTRUMENT, symbol=f"C{index}")), **_auth())
        except BaseException as error:  # collected for the main thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with grpc.insecure_channel(harness.address) as channel:
        audit = rpc.AuditServiceStub(channel)
        verdict = audit.VerifyAudit(pb.VerifyAuditRequest(), **_auth())
        assert verdict.ok and verdict.rows == 16 * 11


def test_follow_streams_new_events_and_resumes(harness: Any) -> None:
    with grpc.insecure_channel(harness.address) as channel:
        events = rpc.EventServiceStub(channel)
        risk = rpc.RiskServiceStub(channel)
        stream = events.StreamEvents(pb.StreamEventsRequest(follow=True, types=["symbols"]),
                                     **_auth())
        for index in range(3):
            risk.SetSymbols(pb.SetSymbolsRequest(symbols=[
                pb.Symbol(symbol=f"F{index}", stock_locate=index)]), **_auth())
        got = [next(stream).id for _ in range(3)]
        stream.cancel()
        resumed = list(events.StreamEvents(pb.StreamEventsRequest(after_id=got[0]), **_auth()))
        assert [e.id for e in resumed] == got[1:]


def test_health_and_reflection_need_no_token(harness: Any) -> None:
    with grpc.insecure_channel(harness.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="nanogate.v1.TradingService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
            list_services="")]), timeout=5)
        names = {s.name for a in answers for s in a.list_services_response.service}
        assert "nanogate.v1.AuditService" in names


def test_rich_error_details(harness: Any) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    with grpc.insecure_channel(harness.address) as channel:
        strategies = rpc.StrategyServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            strategies.ApplyStrategy(pb.ApplyStrategyRequest(spec_yaml="kind: Strategy"),
                                     **_auth())
        status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        assert {v.field for v in bad.field_violations} >= {"apiVersion", "spec"}


def test_serve_command_creates_tokens_and_listens(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nanogate.control.serve", "--listen", "127.0.0.1:0",
         "--db", str(tmp_path / "c.db")], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        created = process.stderr.readline()
        assert "nanogate-tokens.yaml" in created and "admin token" in created
        listening = process.stderr.readline()
        address = listening.split("listening on ")[1].split()[0]
        import yaml
        token = yaml.safe_load((tmp_path / "nanogate-tokens.yaml").read_text())["tokens"][0]
        assert oct((tmp_path / "nanogate-tokens.yaml").stat().st_mode & 0o777) == "0o600"
        assert ngctl.main(["-s", address, "--token", token["token"], "status"]) == 0
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0
