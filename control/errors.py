"""Errors the control plane reports: a gRPC status code, a message and field violations."""

from __future__ import annotations

import grpc


class ControlError(Exception):
    """Raised by the control plane; the server turns it into a rich gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str,
                 violations: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations or []


def invalid(message: str, field: str = "", description: str = "") -> ControlError:
    return ControlError(grpc.StatusCode.INVALID_ARGUMENT, message,
                        [(field, description or message)] if field else [])


def not_found(message: str) -> ControlError:
    return ControlError(grpc.StatusCode.NOT_FOUND, message)


def conflict(message: str) -> ControlError:
    return ControlError(grpc.StatusCode.FAILED_PRECONDITION, message)
