"""Argument types shared by the command-line tools: each turns bad text into a clear usage error."""

from __future__ import annotations

import argparse

from nanogate.gateway.net.addr import Endpoint, parse_endpoint


def _number(text: str, kind: type[int] | type[float], what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def endpoint(text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def probability(text: str) -> float:
    value = float(_number(text, float, "a number"))
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a probability (0..1)")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int, "an integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(_number(text, int, "an integer"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def positive_float(text: str) -> float:
    value = float(_number(text, float, "a number"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be > 0")
    return value


def non_negative_float(text: str) -> float:
    value = float(_number(text, float, "a number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def port(text: str) -> int:
    value = int(_number(text, int, "a port"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} outside 0..65535")
    return value
