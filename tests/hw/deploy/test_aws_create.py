"""``nanogate deploy aws create``: S3 upload, CreateFpgaImage, polling, against botocore's
Stubber (the real service models validate every request; nothing reaches a network)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from nanogate.hw.deploy import aws, cli

AFI, AGFI = "afi-0123456789abcdef0", "agfi-0fedcba9876543210"


@pytest.fixture(scope="module")
def session() -> Any:
    """One session for the module: its loader keeps the parsed EC2 model (slow to load)."""
    return boto3.session.Session(region_name="us-east-1", aws_access_key_id="test",
                                 aws_secret_access_key="test")


@pytest.fixture
def clients(session: Any) -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    ec2, s3 = session.client("ec2"), session.client("s3")
    with Stubber(ec2) as ec2_stub, Stubber(s3) as s3_stub:
        yield ec2, ec2_stub, s3, s3_stub
        ec2_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    path = tmp_path / "25_11_22-031500.Developer_CL.tar"
    path.write_bytes(b"not really a checkpoint" * 100)
    return path


def _expect_upload(s3_stub: Stubber, key: str, digest: str, *, present: bool) -> None:
    if present:
        s3_stub.add_response("head_object", {"Metadata": {"sha256": digest}},
                             {"Bucket": "bkt", "Key": key})
    else:
        s3_stub.add_client_error("head_object", "404", http_status_code=404,
                                 expected_params={"Bucket": "bkt", "Key": key})
        s3_stub.add_response("put_object", {}, {"Bucket": "bkt", "Key": key, "Body": ANY,
                                                "Metadata": {"sha256": digest}})
    s3_stub.add_response("put_object", {}, {"Bucket": "bkt", "Key": aws.logs_prefix(key),
                                            "Body": b""})


def _expect_create(ec2_stub: Stubber, key: str, digest: str, name: str) -> None:
    ec2_stub.add_response(
        "create_fpga_image", {"FpgaImageId": AFI, "FpgaImageGlobalId": AGFI},
        {"InputStorageLocation": {"Bucket": "bkt", "Key": key},
         "LogsStorageLocation": {"Bucket": "bkt", "Key": aws.logs_prefix(key)},
         "Name": name, "Description": ANY, "ClientToken": aws.client_token(digest, name)})


def _expect_state(ec2_stub: Stubber, code: str, message: str = "") -> None:
    state = {"Code": code, **({"Message": message} if message else {})}
    ec2_stub.add_response("describe_fpga_images",
                          {"FpgaImages": [{"FpgaImageId": AFI, "FpgaImageGlobalId": AGFI,
                                           "State": state}]},
                          {"FpgaImageIds": [AFI]})


def test_create_uploads_creates_and_waits(clients: Any, tarball: Path) -> None:
    ec2, ec2_stub, s3, s3_stub = clients
    digest = aws.sha256_of(tarball)
    key = aws.default_key(tarball, digest)
    _expect_upload(s3_stub, key, digest, present=False)
    _expect_create(ec2_stub, key, digest, "25_11_22-031500.Developer_CL")
    for code in ("pending", "pending", "available"):
        _expect_state(ec2_stub, code)
    said: list[str] = []
    sleeps: list[float] = []
    ids = aws.create(ec2, s3, tarball, "bkt", wait=True, say=said.append, poll_s=5,
                     sleep=sleeps.append)
    assert ids == aws.AfiIds(AFI, AGFI, "available")
    assert sleeps == [5, 5]
    text = "\n".join(said)
    assert AFI in text and AGFI in text and "pending" in text and "is available" in text


def test_retry_skips_upload_and_gets_the_same_afi(clients: Any, tarball: Path) -> None:
    """Idempotent: the object is there with the same digest; the same ClientToken is sent."""
    ec2, ec2_stub, s3, s3_stub = clients
    digest = aws.sha256_of(tarball)
    _expect_upload(s3_stub, "my/key.tar", digest, present=True)
    _expect_create(ec2_stub, "my/key.tar", digest, "nm")
    said: list[str] = []
    ids = aws.create(ec2, s3, tarball, "bkt", key="my/key.tar", name="nm", say=said.append)
    assert ids == aws.AfiIds(AFI, AGFI)
    assert any("upload skipped" in line for line in said)


def test_failed_image_shows_reason_and_logs(clients: Any, tarball: Path) -> None:
    ec2, ec2_stub, s3, s3_stub = clients
    digest = aws.sha256_of(tarball)
    _expect_upload(s3_stub, "a/b.tar", digest, present=True)
    _expect_create(ec2_stub, "a/b.tar", digest, "nm")
    _expect_state(ec2_stub, "failed", "DCP timing violation")
    with pytest.raises(aws.AwsDeployError, match=r"failed: DCP timing violation\n.*s3://bkt/a/logs/"):
        aws.create(ec2, s3, tarball, "bkt", key="a/b.tar", name="nm", wait=True,
                   say=lambda _: None, sleep=lambda _: None)


def test_wait_timeout_says_how_to_resume(clients: Any) -> None:
    ec2, ec2_stub, _, _ = clients
    _expect_state(ec2_stub, "pending")
    times = iter([0.0, 7200.0])
    with pytest.raises(aws.AwsDeployError, match="run the same command again"):
        aws.wait_available(ec2, aws.AfiIds(AFI, AGFI), "bkt", "k.tar", say=lambda _: None,
                           timeout_s=3600, sleep=lambda _: None, clock=lambda: next(times))


def test_dry_run_uploads_nothing(clients: Any, tarball: Path) -> None:
    ec2, ec2_stub, s3, _ = clients
    ec2_stub.add_client_error("create_fpga_image", "DryRunOperation", http_status_code=412)
    said: list[str] = []
    assert aws.create(ec2, s3, tarball, "bkt", dry_run=True, say=said.append) is None
    assert "would be allowed" in said[0]


def test_create_error_is_reported(clients: Any, tarball: Path) -> None:
    ec2, ec2_stub, s3, s3_stub = clients
    digest = aws.sha256_of(tarball)
    _expect_upload(s3_stub, "k.tar", digest, present=True)
    ec2_stub.add_client_error("create_fpga_image", "UnauthorizedOperation",
                              "You are not authorized", http_status_code=403)
    with pytest.raises(aws.AwsDeployError, match=r"UnauthorizedOperation.*not authorized"):
        aws.create(ec2, s3, tarball, "bkt", key="k.tar", say=lambda _: None)


def test_s3_access_denied_is_reported(clients: Any, tarball: Path) -> None:
    ec2, _, s3, s3_stub = clients
    s3_stub.add_client_error("head_object", "403", http_status_code=403)
    with pytest.raises(aws.AwsDeployError, match=r"s3://bkt/k\.tar"):
        aws.create(ec2, s3, tarball, "bkt", key="k.tar", say=lambda _: None)


@pytest.mark.parametrize(("name", "content", "bucket", "message"), [
    ("missing.tar", None, "bkt", "no such file"),
    ("cl.dcp", b"x", "bkt", "takes the .tar"),
    ("cl.tar", b"x", "s3://bkt/x", "bucket name"),
])
def test_bad_inputs(clients: Any, tmp_path: Path, name: str, content: bytes | None,
                    bucket: str, message: str) -> None:
    ec2, _, s3, _ = clients
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(aws.AwsDeployError, match=message):
        aws.create(ec2, s3, path, bucket, say=lambda _: None)


def test_unknown_image(clients: Any) -> None:
    ec2, ec2_stub, _, _ = clients
    ec2_stub.add_response("describe_fpga_images", {"FpgaImages": []}, {"FpgaImageIds": [AFI]})
    with pytest.raises(aws.AwsDeployError, match="knows no image"):
        aws.describe(ec2, AFI)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanogate")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_create(clients: Any, tarball: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    ec2, ec2_stub, s3, s3_stub = clients
    digest = aws.sha256_of(tarball)
    _expect_upload(s3_stub, "k/x.tar", digest, present=False)
    _expect_create(ec2_stub, "k/x.tar", digest, "demo")
    monkeypatch.setattr(cli, "aws_clients", lambda region: (ec2, s3))
    args = _parser().parse_args(["deploy", "aws", "create", "--dcp", str(tarball),
                                 "--bucket", "bkt", "--key", "k/x.tar", "--name", "demo"])
    assert args.handler(args) == 0
    assert f"AGFI {AGFI}" in capsys.readouterr().out


def test_cli_create_error_exit_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "aws_clients", lambda region: (None, None))
    args = _parser().parse_args(["deploy", "aws", "create", "--dcp", str(tmp_path / "no.tar"),
                                 "--bucket", "bkt"])
    assert args.handler(args) == 1
    assert "no such file" in capsys.readouterr().err
