"""``nanogate deploy aws create|load`` and ``nanogate deploy pynq``.

``register(commands)`` adds the top-level ``deploy`` command to the ``nanogate``
parser. boto3 is imported only by ``deploy aws create``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nanogate.hw.deploy import aws, pynq


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = commands.add_parser(
        "deploy", help="deploy bitstreams to AWS FPGA instances and PYNQ boards",
        description="Turn a build into an AWS FPGA image and load it, or copy a bitstream "
                    "to a PYNQ board and load it. See docs/deploy.md.")
    targets = deploy.add_subparsers(dest="deploy_target", metavar="TARGET", required=True)

    aws_parser = targets.add_parser("aws", help="AWS F2 / F1: create an AFI, load an AGFI")
    aws_commands = aws_parser.add_subparsers(dest="aws_command", metavar="STEP", required=True)
    create = aws_commands.add_parser(
        "create", help="upload a DCP tarball and create an AFI",
        description="Upload the HDK's design-checkpoint tarball to S3 and call "
                    "CreateFpgaImage. Idempotent: the same tarball gives the same AFI, so "
                    "re-running after a failure or an interrupted --wait resumes.")
    create.add_argument("--dcp", required=True, type=Path, metavar="TARBALL",
                        help="the *.Developer_CL.tar from the HDK build")
    create.add_argument("--bucket", required=True, help="S3 bucket (same region)")
    create.add_argument("--key", default=None,
                        help="S3 key (default: nanogate/afi/<sha256 prefix>/<tarball name>)")
    create.add_argument("--region", default=None, help="AWS region (default: your profile's)")
    create.add_argument("--name", default=None, help="AFI name (default: the tarball's stem)")
    create.add_argument("--wait", action="store_true",
                        help="poll until the AFI is available or failed")
    create.add_argument("--poll", type=float, default=60.0, metavar="SECONDS",
                        help="seconds between polls with --wait (default: 60)")
    create.add_argument("--dry-run", action="store_true",
                        help="ask AWS whether the call would be allowed; upload nothing")
    create.set_defaults(handler=_aws_create)

    load = aws_commands.add_parser(
        "load", help="load an AGFI into a slot (on the instance)",
        description="Clear the slot, load the image and confirm with the AWS FPGA "
                    "management tools (fpga-*-local-image). Takes the AGFI, not the AFI.")
    load.add_argument("--agfi", required=True, metavar="ID", help="global image id, agfi-...")
    load.add_argument("--slot", type=int, default=0, help="FPGA slot (default: 0)")
    load.add_argument("--sudo", action="store_true", help="run the tools through sudo")
    load.set_defaults(handler=_aws_load)

    board = targets.add_parser(
        "pynq", help="copy a .bit and .hwh to a PYNQ board and load them",
        description="Copy the bitstream and its hardware handoff to a PYNQ board (Kria "
                    "KV260 / KR260) over scp and load them with pynq.Overlay over ssh.")
    board.add_argument("--host", required=True, help="board host name or address")
    board.add_argument("--user", default="xilinx", help="ssh user (default: xilinx)")
    board.add_argument("--bitstream", required=True, type=Path, metavar="X.bit")
    board.add_argument("--hwh", required=True, type=Path, metavar="X.hwh")
    board.add_argument("--remote-dir", default=pynq.REMOTE_DIR,
                       help=f"folder on the board (default: {pynq.REMOTE_DIR})")
    board.set_defaults(handler=_pynq)


def aws_clients(region: str | None) -> tuple[Any, Any]:
    """(ec2, s3) clients; tests replace this function to hand in stubbed clients."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return session.client("ec2"), session.client("s3")


def _fail(error: Exception) -> int:
    print(f"nanogate: {error}", file=sys.stderr)
    return 1


def _aws_create(args: argparse.Namespace) -> int:
    try:
        ec2, s3 = aws_clients(args.region)
        aws.create(ec2, s3, args.dcp, args.bucket, key=args.key, name=args.name,
                   wait=args.wait, dry_run=args.dry_run, poll_s=args.poll)
    except aws.AwsDeployError as error:
        return _fail(error)
    except Exception as error:  # botocore: no credentials, no region, endpoint errors
        if type(error).__module__.startswith(("botocore", "boto3")):
            return _fail(error)
        raise
    return 0


def _aws_load(args: argparse.Namespace) -> int:
    try:
        aws.load(args.agfi, args.slot, sudo=args.sudo)
    except aws.AwsDeployError as error:
        return _fail(error)
    return 0


def _pynq(args: argparse.Namespace) -> int:
    try:
        pynq.deploy(args.host, args.bitstream, args.hwh, user=args.user,
                    remote_dir=args.remote_dir)
    except pynq.PynqDeployError as error:
        return _fail(error)
    return 0
