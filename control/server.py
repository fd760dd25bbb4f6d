# ruff: noqa: N802  (method names are fixed by the .proto)
"""The gRPC server: the six services over a :class:`ControlPlane`, health, reflection, TLS."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import (  # type: ignore[import-untyped, unused-ignore]
    error_details_pb2,
    status_pb2,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from nanogate.control.auth import ARRIVED_NS, CALLER, AuthInterceptor, Identity
from nanogate.control.errors import ControlError, invalid
from nanogate.control.plane import EVENT_TYPES, ControlPlane
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.controlapi import control_pb2_grpc as rpc

SERVICES = ("StrategyService", "RiskService", "TradingService", "StatusService",
            "EventService", "AuditService")
R = TypeVar("R")


def abort(context: grpc.ServicerContext, error: ControlError) -> None:
    """Abort with a google.rpc.Status carrying BadRequest field violations."""
    details = []
    if error.violations:
        bad = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in error.violations])
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    context.abort_with_status(rpc_status.to_status(status_pb2.Status(
        code=error.code.value[0], message=error.message, details=details)))


def guarded(method: Callable[..., R]) -> Callable[..., R]:
    @functools.wraps(method)
    def call(self: Any, request: Any, context: grpc.ServicerContext) -> R:
        try:
            return method(self, request, context)
        except ControlError as error:
            abort(context, error)
            raise  # abort raised already; kept for the type checker
    return call


def actor() -> str:
    identity = CALLER.get(Identity("anonymous", "viewer"))
    return identity.name


class Strategies(rpc.StrategyServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @guarded
    def ApplyStrategy(self, request: pb.ApplyStrategyRequest,
                      context: grpc.ServicerContext) -> pb.ApplyStrategyResponse:
        return self.plane.apply_strategy(actor(), request)

    @guarded
    def ValidateStrategy(self, request: pb.ApplyStrategyRequest,
                         context: grpc.ServicerContext) -> pb.ApplyStrategyResponse:
        request.dry_run = True
        return self.plane.apply_strategy(actor(), request)

    @guarded
    def GetStrategy(self, request: pb.GetStrategyRequest,
                    context: grpc.ServicerContext) -> pb.Strategy:
        return self.plane.get_strategy(request.name)

    @guarded
    def ListStrategies(self, request: pb.ListStrategiesRequest,
                       context: grpc.ServicerContext) -> pb.ListStrategiesResponse:
        return self.plane.list_strategies()

    @guarded
    def DeleteStrategy(self, request: pb.DeleteStrategyRequest,
                       context: grpc.ServicerContext) -> pb.DeleteStrategyResponse:
        return self.plane.delete_strategy(actor(), request.name)


class Risk(rpc.RiskServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @guarded
    def SetInstrumentLimits(self, request: pb.SetInstrumentLimitsRequest,
                            context: grpc.ServicerContext) -> pb.InstrumentLimits:
        return self.plane.set_instrument_limits(actor(), request)

    @guarded
    def SetAccountLimits(self, request: pb.SetAccountLimitsRequest,
                         context: grpc.ServicerContext) -> pb.AccountLimits:
        return self.plane.set_account_limits(actor(), request)

    @guarded
    def GetLimits(self, request: pb.GetLimitsRequest,
                  context: grpc.ServicerContext) -> pb.LimitsSnapshot:
        return self.plane.get_limits(request)

    @guarded
    def SetSymbols(self, request: pb.SetSymbolsRequest,
                   context: grpc.ServicerContext) -> pb.SymbolList:
        return self.plane.set_symbols(actor(), request.symbols)

    @guarded
    def ListSymbols(self, request: pb.ListSymbolsRequest,
                    context: grpc.ServicerContext) -> pb.SymbolList:
        return self.plane.list_symbols()

    @guarded
    def GetExposure(self, request: pb.GetExposureRequest,
                    context: grpc.ServicerContext) -> pb.ExposureSnapshot:
        return self.plane.exposure(request)


class Trading(rpc.TradingServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @guarded
    def Halt(self, request: pb.HaltRequest, context: grpc.ServicerContext) -> pb.HaltResponse:
        return self.plane.halt(actor(), request, ARRIVED_NS.get(time.perf_counter_ns()))

    @guarded
    def Resume(self, request: pb.ResumeRequest,
               context: grpc.ServicerContext) -> pb.ResumeResponse:
        return self.plane.resume(actor(), request)

    @guarded
    def SetReduceOnly(self, request: pb.ReduceOnlyRequest,
                      context: grpc.ServicerContext) -> pb.ReduceOnlyResponse:
        return self.plane.set_reduce_only(actor(), request)

    @guarded
    def MassCancel(self, request: pb.MassCancelRequest,
                   context: grpc.ServicerContext) -> pb.MassCancelResponse:
        return self.plane.mass_cancel(actor(), request)

    @guarded
    def GetTradingState(self, request: pb.GetTradingStateRequest,
                        context: grpc.ServicerContext) -> pb.TradingState:
        return self.plane.trading_state()

    @guarded
    def CheckOrder(self, request: pb.CheckOrderRequest,
                   context: grpc.ServicerContext) -> pb.CheckOrderResponse:
        return self.plane.check_order(actor(), request)


class Status(rpc.StatusServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @guarded
    def GetStatus(self, request: pb.GetStatusRequest,
                  context: grpc.ServicerContext) -> pb.Status:
        return self.plane.status()


class Events(rpc.EventServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def StreamEvents(self, request: pb.StreamEventsRequest,
                     context: grpc.ServicerContext) -> Iterator[pb.Event]:
        unknown = [t for t in request.types if t not in EVENT_TYPES]
        if unknown:
            abort(context, invalid(f"unknown event type(s) {', '.join(unknown)} "
                                   f"(known: {', '.join(EVENT_TYPES)})", "types"))
        store = self.plane.store
        after, sent = request.after_id, 0
        condition = store.subscribe()
        try:
            while context.is_active():
                mark = store.last_event_id()
                left = request.limit - sent if request.limit else 0
                for event in store.events(after, request.types, left):
                    yield pb.Event(id=event.id, type=event.type, time=event.time,
                                   actor=event.actor, summary=event.summary,
                                   detail_json=event.detail)
                    after, sent = event.id, sent + 1
                if not request.follow or (request.limit and sent >= request.limit):
                    return
                with condition:
                    if store.last_event_id() == mark:
                        condition.wait(0.25)  # bounded: notices cancellation promptly
        finally:
            store.unsubscribe(condition)


class Audit(rpc.AuditServiceServicer):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    @guarded
    def ListAudit(self, request: pb.ListAuditRequest,
                  context: grpc.ServicerContext) -> pb.ListAuditResponse:
        rows = self.plane.store.audit(request.after_id, request.limit, request.target)
        return pb.ListAuditResponse(records=[pb.AuditRecord(
            id=r.id, time=r.time, actor=r.actor, action=r.action, target=r.target,
            before_json=r.before, after_json=r.after, prev_hash=r.prev_hash, hash=r.hash)
            for r in rows])

    @guarded
    def VerifyAudit(self, request: pb.VerifyAuditRequest,
                    context: grpc.ServicerContext) -> pb.VerifyAuditResponse:
        verdict = self.plane.store.verify()
        return pb.VerifyAuditResponse(ok=verdict.ok, rows=verdict.rows, bad_row=verdict.bad_row,
                                      problem=verdict.problem, head_hash=verdict.head)


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    client_ca: Path | None = None


def build_server(plane: ControlPlane, tokens: dict[bytes, Identity], listen: str,
                 tls: Tls | None = None, workers: int = 32) -> tuple[grpc.Server, int]:
    """A started server and the port it listens on (``listen`` may say port 0)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="control"),
                         interceptors=[AuthInterceptor(tokens)])
    rpc.add_StrategyServiceServicer_to_server(Strategies(plane), server)
    rpc.add_RiskServiceServicer_to_server(Risk(plane), server)
    rpc.add_TradingServiceServicer_to_server(Trading(plane), server)
    rpc.add_StatusServiceServicer_to_server(Status(plane), server)
    rpc.add_EventServiceServicer_to_server(Events(plane), server)
    rpc.add_AuditServiceServicer_to_server(Audit(plane), server)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    names = [f"nanogate.v1.{s}" for s in SERVICES]
    for name in ("", *names):
        checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    if tls is None:
        port = server.add_insecure_port(listen)
    else:
        credentials = grpc.ssl_server_credentials(
            [(tls.key.read_bytes(), tls.cert.read_bytes())],
            root_certificates=tls.client_ca.read_bytes() if tls.client_ca else None,
            require_client_auth=tls.client_ca is not None)
        port = server.add_secure_port(listen, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server, port
