"""Strategy parameters: a small typed schema per strategy type, its validation and JSON schema.

Each strategy type declares its ``params`` as a tuple of :class:`Param`; the
same table validates a spec's ``params`` (unknown fields, wrong types and
out-of-range values are errors naming the field), fills in the defaults and
publishes a JSON-schema fragment the control plane's validator can embed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "StrategyConfigError", "check_params", "params_schema", "resolve_params"]


class StrategyConfigError(ValueError):
    """A strategy that cannot be built from its spec: the message names the strategy and field."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: type[int] | type[float]  # int: whole numbers only; float: any number
    default: float
    minimum: float
    maximum: float
    unit: str
    doc: str

    def check(self, value: object) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected {self._expected()}, found {type(value).__name__} {value!r}"
        if self.kind is int and not isinstance(value, int):
            return f"expected {self._expected()}, found {value!r}"
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            return f"expected {self._expected()}, found {value!r}"
        return None

    def _expected(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        return f"{noun} in {_number(self.minimum)}..{_number(self.maximum)} ({self.unit})"

    def schema(self) -> dict[str, Any]:
        return {"type": "integer" if self.kind is int else "number", "minimum": self.minimum,
                "maximum": self.maximum, "default": self.default,
                "description": f"{self.doc} ({self.unit})"}


def _number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def check_params(table: tuple[Param, ...], params: object) -> list[str]:
    """Every problem with ``params`` against ``table``, as 'params.FIELD: ...' lines."""
    if params is None:
        return []
    if not isinstance(params, Mapping):
        return [f"params: expected a mapping, found {type(params).__name__}"]
    known = {p.name: p for p in table}
    errors = []
    for key, value in params.items():
        param = known.get(key) if isinstance(key, str) else None
        if param is None:
            names = ", ".join(known) or "none"
            errors.append(f"params.{key}: unknown field (known: {names})")
            continue
        problem = param.check(value)
        if problem:
            errors.append(f"params.{key}: {problem}")
    return errors


def resolve_params(table: tuple[Param, ...], params: Mapping[str, Any] | None
                   ) -> dict[str, float]:
    """The defaults overlaid with ``params`` (already checked), as numbers by name."""
    values: dict[str, float] = {p.name: p.default for p in table}
    for key, value in (params or {}).items():
        values[key] = value
    return values


def params_schema(table: tuple[Param, ...]) -> dict[str, Any]:
    """The JSON-schema fragment of one type's ``params`` object."""
    return {"type": "object", "additionalProperties": False,
            "properties": {p.name: p.schema() for p in table}}
