"""Renders the control API's Python stubs from ``proto/nanogate/v1/*.proto``.

protoc (grpc_tools) runs in a temporary folder and its output is returned as text, so
``nanogate.codegen`` can both write the files and tell when the checked-in ones are
stale. protoc names imports after the .proto path (``nanogate.v1``); they are
rewritten to the package the stubs live in (``nanogate.proto.controlapi``).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = "nanogate/v1"
STUB_DIR = "proto/controlapi"
STUB_PACKAGE = "nanogate.proto.controlapi"
#: the outputs protoc writes per .proto file (mypy-protobuf writes the .pyi files)
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


class CodegenError(RuntimeError):
    """protoc failed; the message carries its output."""


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / PROTO_PACKAGE).glob("*.proto"))


def _plugin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise CodegenError(f"{name} not found beside {sys.executable}: install mypy-protobuf")
    return str(path)


def _fix_imports(text: str) -> str:
    dotted = PROTO_PACKAGE.replace("/", ".")
    return (text.replace(f"from {dotted} import", f"from {STUB_PACKAGE} import")
                .replace(f"import {dotted}.", f"import {STUB_PACKAGE}."))


@functools.cache
def render_grpc_stubs() -> dict[str, str]:
    """Every stub file, by path relative to the repository root, as protoc writes it."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    protos = proto_files()
    if not protos:
        raise CodegenError(f"no .proto files in {PROTO_ROOT / PROTO_PACKAGE}")
    with tempfile.TemporaryDirectory() as tmp:
        include = str(Path(protoc.__file__).parent / "_proto")
        args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}",
                f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
                f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
                f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                f"--mypy_out={tmp}", f"--mypy_grpc_out={tmp}",
                *(str(p.relative_to(PROTO_ROOT)) for p in protos)]
        if protoc.main(args) != 0:
            raise CodegenError(f"protoc failed on {', '.join(p.name for p in protos)}")
        out: dict[str, str] = {}
        for proto in protos:
            for suffix in SUFFIXES:
                produced = Path(tmp) / PROTO_PACKAGE / f"{proto.stem}{suffix}"
                out[f"{STUB_DIR}/{proto.stem}{suffix}"] = _fix_imports(produced.read_text())
    return out


def _stub(relative: str) -> Callable[[], str]:
    return lambda: render_grpc_stubs()[relative]


def generated() -> dict[str, Callable[[], str]]:
    """Entries for ``nanogate.codegen.GENERATED``: path -> renderer."""
    from nanogate.control.spec import render_schema

    entries: dict[str, Callable[[], str]] = {
        f"{STUB_DIR}/{proto.stem}{suffix}": _stub(f"{STUB_DIR}/{proto.stem}{suffix}")
        for proto in proto_files() for suffix in SUFFIXES}
    entries["docs/strategy.schema.json"] = render_schema
    return entries
