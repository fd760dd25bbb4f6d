"""Bearer tokens mapped to roles, checked by a server interceptor.

Tokens file (YAML): ``tokens: [{name: alice, role: risk, token: "..."}]``. Roles:
``viewer`` reads; ``trader`` also manages strategies; ``risk`` also sets limits,
halts, resumes and cancels; ``admin`` does everything. Every token is compared (in
constant time, over SHA-256 digests of equal length) so timing tells nothing about
which token nearly matched. Health and reflection need no token (probes, tools).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import yaml

ROLES = ("viewer", "trader", "risk", "admin")
_PREFIX = "/nanogate.v1."
_WRITES: dict[str, frozenset[str]] = {
    "StrategyService/ApplyStrategy": frozenset({"trader", "admin"}),
    "StrategyService/ValidateStrategy": frozenset({"trader", "admin"}),
    "StrategyService/DeleteStrategy": frozenset({"trader", "admin"}),
    **{f"RiskService/{m}": frozenset({"risk", "admin"})
       for m in ("SetInstrumentLimits", "SetAccountLimits", "SetSymbols")},
    **{f"TradingService/{m}": frozenset({"risk", "admin"})
       for m in ("Halt", "Resume", "SetReduceOnly", "MassCancel", "CheckOrder")},
}
_PUBLIC = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
           "/grpc.reflection.v1.ServerReflection/")
MIN_TOKEN_CHARS = 16


class TokensError(ValueError):
    """A tokens file that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str


#: who is calling, and when the call reached the server (perf_counter_ns)
CALLER: contextvars.ContextVar[Identity] = contextvars.ContextVar("caller")
ARRIVED_NS: contextvars.ContextVar[int] = contextvars.ContextVar("arrived_ns")


def roles_for(method: str) -> frozenset[str]:
    """The roles that may call ``method`` (a full gRPC method name)."""
    if not method.startswith(_PREFIX):
        return frozenset({"admin"})  # fail closed on anything unknown
    return _WRITES.get(method[len(_PREFIX):], frozenset(ROLES))


def load_tokens(path: Path | str) -> dict[bytes, Identity]:
    """Token digests -> identity."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise TokensError(f"{path}: cannot read: {error}") from None
    entries = document.get("tokens") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TokensError(f"{path}: expected `tokens:` with a list of entries")
    table: dict[bytes, Identity] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: tokens[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "role", "token"}:
            raise TokensError(f"{where}: expected exactly name, role and token")
        if entry["role"] not in ROLES:
            raise TokensError(f"{where}: role {entry['role']!r} is not one of {', '.join(ROLES)}")
        token = entry["token"]
        if not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS:
            raise TokensError(f"{where}: token must be at least {MIN_TOKEN_CHARS} characters")
        digest = hashlib.sha256(token.encode()).digest()
        if digest in table:
            raise TokensError(f"{where}: token repeated")
        table[digest] = Identity(str(entry["name"]), str(entry["role"]))
    return table


def create_tokens_file(path: Path | str) -> str:
    """A new file with one random admin token (mode 0600); returns the token."""
    token = secrets.token_urlsafe(32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump({"tokens": [{"name": "admin", "role": "admin", "token": token}]}, handle)
    return token


def _bearer(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer "):]
    return ""


def _refuse(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler[Any, Any]:
    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


def _wrap(handler: grpc.RpcMethodHandler[Any, Any], identity: Identity, arrived: int) \
        -> grpc.RpcMethodHandler[Any, Any]:
    """The handler, run with the caller and arrival time set (in the worker thread)."""
    def bind(behaviour: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def call(request: Any, context: Any) -> Any:
            CALLER.set(identity)
            ARRIVED_NS.set(arrived)
            return behaviour(request, context)
        return call

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            bind(handler.unary_unary), handler.request_deserializer,
            handler.response_serializer)
    if handler.unary_stream is not None:
        def stream(request: Any, context: Any) -> Any:
            CALLER.set(identity)
            ARRIVED_NS.set(arrived)
            yield from handler.unary_stream(request, context)  # type: ignore[misc]
        return grpc.unary_stream_rpc_method_handler(
            stream, handler.request_deserializer, handler.response_serializer)
    return handler


if TYPE_CHECKING:  # grpc-stubs makes it generic; the runtime class is not
    _Interceptor = grpc.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.ServerInterceptor


class AuthInterceptor(_Interceptor):
    def __init__(self, tokens: dict[bytes, Identity]) -> None:
        self._tokens = list(tokens.items())

    def identify(self, token: str) -> Identity | None:
        digest = hashlib.sha256(token.encode()).digest()
        found: Identity | None = None
        for known, identity in self._tokens:  # no early exit: constant work per call
            if hmac.compare_digest(known, digest):
                found = identity
        return found if token else None

    def intercept_service(self, continuation: Callable[[Any], Any],
                          details: grpc.HandlerCallDetails) -> Any:
        arrived = time.perf_counter_ns()
        method = details.method
        if method.startswith(_PUBLIC):
            return continuation(details)
        identity = self.identify(_bearer(details.invocation_metadata))
        if identity is None:
            return _refuse(grpc.StatusCode.UNAUTHENTICATED,
                           "missing or unknown bearer token (ngctl --token / NANOGATE_TOKEN)")
        allowed = roles_for(method)
        if identity.role not in allowed:
            return _refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"{identity.name} (role {identity.role}) may not call "
                           f"{method.rsplit('/', 1)[1]}: needs {' or '.join(sorted(allowed))}")
        handler = continuation(details)
        return None if handler is None else _wrap(handler, identity, arrived)
