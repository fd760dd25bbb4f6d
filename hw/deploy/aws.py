"""AWS FPGA images: ``nanogate deploy aws create`` and ``nanogate deploy aws load``.

``create`` turns the design-checkpoint tarball the HDK build writes
(``*.Developer_CL.tar``) into an Amazon FPGA Image: upload to S3,
``CreateFpgaImage``, then (``--wait``) poll ``DescribeFpgaImages`` until the image is
``available`` or ``failed``. It is idempotent and resumable: the S3 key and the
``ClientToken`` derive from the tarball's SHA-256, so re-running the same command
after a failure or an interrupted wait skips the upload (the object is already
there with the same digest), gets the *same* AFI back from EC2 (same token) and
goes on waiting.

``load`` runs on the F2/F1 instance itself: ``fpga-clear-local-image``,
``fpga-load-local-image`` and ``fpga-describe-local-image`` from the aws-fpga SDK,
and checks that the slot reports the image ``loaded``. It takes the global id
(``agfi-...``), which is what the tools load; the regional ``afi-...`` id is refused.

The clients are passed in (``ec2``, ``s3``), so tests drive this module with
botocore's Stubber and no network.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanogate.hw.deploy.tools import ToolError, run_tool

AFI_RE = re.compile(r"^afi-[0-9a-f]{8,32}$")
AGFI_RE = re.compile(r"^agfi-[0-9a-f]{8,32}$")
#: States DescribeFpgaImages reports; ``pending`` is the only one that changes.
DONE_STATES = frozenset({"available", "failed", "unavailable"})
SDK_HINT = ("run this on an F2 (or F1) instance after `source sdk_setup.sh` from a clone of "
            "https://github.com/aws/aws-fpga")


class AwsDeployError(RuntimeError):
    """A deploy step that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class AfiIds:
    afi: str
    agfi: str
    state: str = "pending"


# --- create -------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_tarball(path: Path) -> None:
    if not path.is_file():
        raise AwsDeployError(f"{path}: no such file (the HDK build writes "
                             f"build/checkpoints/*.Developer_CL.tar)")
    if not path.name.endswith(".tar"):
        raise AwsDeployError(f"{path}: CreateFpgaImage takes the .tar the HDK build writes, "
                             f"not {path.suffix or 'a file without suffix'}")


def default_key(tarball: Path, digest: str) -> str:
    return f"nanogate/afi/{digest[:16]}/{tarball.name}"


def logs_prefix(key: str) -> str:
    parent = key.rpartition("/")[0]
    return f"{parent}/logs/" if parent else "logs/"


def client_token(digest: str, name: str) -> str:
    """The same tarball and name give the same token, so EC2 returns the same AFI."""
    return hashlib.sha256(f"{digest}:{name}".encode()).hexdigest()[:48]


def upload(s3: Any, tarball: Path, bucket: str, key: str, digest: str,
           say: Callable[[str], None]) -> None:
    """Put the tarball at s3://bucket/key unless an object with the same digest is there."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in {"404", "NoSuchKey", "NotFound"}:
            raise AwsDeployError(f"s3://{bucket}/{key}: {error}") from None
        head = None
    if head is not None and head.get("Metadata", {}).get("sha256") == digest:
        say(f"s3://{bucket}/{key} already holds this tarball (sha256 {digest[:12]}): "
            f"upload skipped")
    else:
        say(f"uploading {tarball} to s3://{bucket}/{key}")
        try:
            with tarball.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha256": digest})
        except ClientError as error:
            raise AwsDeployError(f"upload to s3://{bucket}/{key} failed: {error}") from None
    logs = logs_prefix(key)
    try:
        s3.put_object(Bucket=bucket, Key=logs, Body=b"")
    except ClientError as error:
        raise AwsDeployError(f"cannot create the logs folder s3://{bucket}/{logs}: {error}") \
            from None


def create_image(ec2: Any, bucket: str, key: str, name: str, digest: str,
                 *, dry_run: bool = False) -> AfiIds | None:
    """CreateFpgaImage (idempotent by ClientToken). With ``dry_run``: None when allowed."""
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {
        "InputStorageLocation": {"Bucket": bucket, "Key": key},
        "LogsStorageLocation": {"Bucket": bucket, "Key": logs_prefix(key)},
        "Name": name,
        "Description": f"nanogate {name} (sha256 {digest[:16]})",
        "ClientToken": client_token(digest, name),
    }
    if dry_run:
        request["DryRun"] = True
    try:
        response = ec2.create_fpga_image(**request)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if dry_run and code == "DryRunOperation":
            return None
        raise AwsDeployError(f"CreateFpgaImage failed ({code or 'error'}): "
                             f"{error.response.get('Error', {}).get('Message', error)}") from None
    if dry_run:
        raise AwsDeployError("CreateFpgaImage ignored DryRun and created an image: "
                             f"{response.get('FpgaImageId')}")
    return AfiIds(str(response["FpgaImageId"]), str(response["FpgaImageGlobalId"]))


def describe(ec2: Any, afi: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        images = ec2.describe_fpga_images(FpgaImageIds=[afi])["FpgaImages"]
    except ClientError as error:
        raise AwsDeployError(f"DescribeFpgaImages {afi}: {error}") from None
    if not images:
        raise AwsDeployError(f"DescribeFpgaImages knows no image {afi} in this region")
    image: dict[str, Any] = images[0]
    return image


def wait_available(ec2: Any, ids: AfiIds, bucket: str, key: str, *,
                   say: Callable[[str], None], poll_s: float = 60.0, timeout_s: float = 6 * 3600,
                   sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> AfiIds:
    """Poll until the image is done; AwsDeployError with the reason and logs when not available."""
    started = clock()
    last = ""
    while True:
        image = describe(ec2, ids.afi)
        state = image.get("State", {})
        code = str(state.get("Code", "pending"))
        elapsed = clock() - started
        if code != last:
            say(f"{ids.afi}: {code} after {elapsed / 60:.0f} min")
            last = code
        if code == "available":
            return AfiIds(ids.afi, ids.agfi, code)
        if code in DONE_STATES:
            reason = state.get("Message") or "no reason given"
            raise AwsDeployError(
                f"{ids.afi} ({ids.agfi}) is {code}: {reason}\n"
                f"the AFI build logs are at s3://{bucket}/{logs_prefix(key)}")
        if elapsed >= timeout_s:
            raise AwsDeployError(
                f"{ids.afi} still {code} after {elapsed / 60:.0f} min; run the same command "
                f"again to go on waiting (it resumes, nothing is rebuilt)")
        sleep(poll_s)


def create(ec2: Any, s3: Any, tarball: Path, bucket: str, *, key: str | None = None,
           name: str | None = None, wait: bool = False, dry_run: bool = False,
           say: Callable[[str], None] = print, poll_s: float = 60.0,
           timeout_s: float = 6 * 3600,
           sleep: Callable[[float], None] = time.sleep) -> AfiIds | None:
    """The whole ``create`` step; None for a dry run that AWS says would succeed."""
    check_tarball(tarball)
    if not bucket or "/" in bucket:
        raise AwsDeployError(f"--bucket takes a bucket name, not {bucket!r}")
    digest = sha256_of(tarball)
    key = key or default_key(tarball, digest)
    name = name or tarball.name.removesuffix(".tar")
    if dry_run:
        create_image(ec2, bucket, key, name, digest, dry_run=True)
        say(f"dry run: CreateFpgaImage from s3://{bucket}/{key} would be allowed; "
            f"nothing uploaded or created")
        return None
    upload(s3, tarball, bucket, key, digest, say)
    ids = create_image(ec2, bucket, key, name, digest)
    assert ids is not None
    say(f"AFI  {ids.afi}\nAGFI {ids.agfi}  (load this one: nanogate deploy aws load "
        f"--agfi {ids.agfi})")
    if wait:
        ids = wait_available(ec2, ids, bucket, key, say=say, poll_s=poll_s,
                             timeout_s=timeout_s, sleep=sleep)
        say(f"{ids.afi} is available")
    return ids


# --- load (on the instance) --------------------------------------------------------

def check_agfi(image: str) -> str:
    if AFI_RE.match(image):
        raise AwsDeployError(
            f"{image} is an AFI id: loading takes the global id (agfi-...), which `nanogate "
            f"deploy aws create` prints and `aws ec2 describe-fpga-images --fpga-image-ids "
            f"{image}` shows as FpgaImageGlobalId")
    if not AGFI_RE.match(image):
        raise AwsDeployError(f"{image!r} is not an AGFI id (agfi- and hex digits)")
    return image


@dataclass(frozen=True)
class SlotStatus:
    slot: int
    image: str
    status: str
    error: str
    dbdf: str = ""


def parse_describe(text: str, slot: int) -> SlotStatus:
    """The ``AFI`` (and ``AFIDEVICE``) rows of ``fpga-describe-local-image -H`` output."""
    image_row: list[str] | None = None
    dbdf = ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == "AFI" and fields[1] == str(slot):
            image_row = fields
        elif len(fields) >= 5 and fields[0] == "AFIDEVICE" and fields[1] == str(slot):
            dbdf = fields[4]
    if image_row is None:
        raise AwsDeployError(f"fpga-describe-local-image printed no AFI row for slot {slot}:\n"
                             f"{text.strip()}")
    return SlotStatus(slot, image_row[2], image_row[3], image_row[5], dbdf)


def load(agfi: str, slot: int = 0, *, sudo: bool = False,
         say: Callable[[str], None] = print) -> SlotStatus:
    """Clear the slot, load ``agfi`` and confirm; AwsDeployError says which step failed."""
    check_agfi(agfi)
    if not 0 <= slot <= 7:
        raise AwsDeployError(f"--slot {slot}: FPGA slots are numbered 0..7")
    prefix = ["sudo"] if sudo else []
    steps = [
        ("clear", ["fpga-clear-local-image", "-S", str(slot)]),
        ("load", ["fpga-load-local-image", "-S", str(slot), "-I", agfi]),
        ("describe", ["fpga-describe-local-image", "-S", str(slot), "-R", "-H"]),
    ]
    output = ""
    for what, argv in steps:
        say(f"{what}: {' '.join(prefix + argv)}")
        try:
            output = run_tool(prefix + argv, hint=SDK_HINT).stdout
        except ToolError as error:
            raise AwsDeployError(f"{what} of slot {slot} failed: {error}") from None
    status = parse_describe(output, slot)
    if status.image != agfi or status.status != "loaded":
        raise AwsDeployError(f"slot {slot} reports {status.image} {status.status} "
                             f"(error {status.error}), not {agfi} loaded")
    say(f"slot {slot}: {agfi} loaded" + (f" at PCI {status.dbdf}" if status.dbdf else ""))
    return status
