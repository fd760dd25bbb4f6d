"""ngctl's connection: address, token and TLS from flags, then environment, then a file.

Config file (YAML; ``--config``, ``NGCTL_CONFIG`` or ~/.config/nanogate/ngctl.yaml):
``{address: HOST:PORT, token: ..., ca: FILE, cert: FILE, key: FILE}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

from nanogate.proto.controlapi import control_pb2_grpc as rpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_CONFIG = Path("~/.config/nanogate/ngctl.yaml")
_ENV = {"address": "NANOGATE_ADDR", "token": "NANOGATE_TOKEN", "ca": "NANOGATE_CA",
        "cert": "NANOGATE_CERT", "key": "NANOGATE_KEY"}


class ConfigError(ValueError):
    """Bad client configuration (unreadable file, half of a client certificate)."""


@dataclass(frozen=True)
class Settings:
    address: str
    token: str
    ca: str | None
    cert: str | None
    key: str | None
    timeout: float


def resolve(flags: dict[str, Any], config_path: str | None, timeout: float) -> Settings:
    path = Path(config_path or os.environ.get("NGCTL_CONFIG") or DEFAULT_CONFIG).expanduser()
    file: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot read: {error}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping")
        file = loaded
    elif config_path:
        raise ConfigError(f"{path}: no such config file")
    values = {key: flags.get(key) or os.environ.get(env) or file.get(key)
              for key, env in _ENV.items()}
    if bool(values["cert"]) != bool(values["key"]):
        raise ConfigError("a client certificate needs both cert and key")
    return Settings(str(values["address"] or DEFAULT_ADDRESS), str(values["token"] or ""),
                    values["ca"], values["cert"], values["key"], timeout)


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


class Client:
    """Stubs for every service; each call carries the token and a deadline."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.ca or settings.cert:
            credentials = grpc.ssl_channel_credentials(
                _read(settings.ca), _read(settings.key), _read(settings.cert))
            self.channel = grpc.secure_channel(settings.address, credentials)
        else:
            self.channel = grpc.insecure_channel(settings.address)
        self.strategies = rpc.StrategyServiceStub(self.channel)
        self.risk = rpc.RiskServiceStub(self.channel)
        self.trading = rpc.TradingServiceStub(self.channel)
        self.status = rpc.StatusServiceStub(self.channel)
        self.events = rpc.EventServiceStub(self.channel)
        self.audit = rpc.AuditServiceStub(self.channel)

    def options(self, timeout: float | None = None) -> dict[str, Any]:
        metadata = (("authorization", f"Bearer {self.settings.token}"),) \
            if self.settings.token else ()
        return {"timeout": timeout or self.settings.timeout, "metadata": metadata}

    def close(self) -> None:
        self.channel.close()
