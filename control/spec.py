"""Strategy specs: the JSON schema, validation with field paths, and the limits they imply.

The schema below is the one definition: the validator walks it, ``render_schema``
publishes it (docs/strategy.schema.json). Errors name the field path, what was
expected and what was found; unknown fields are errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

API_VERSION = "nanogate/v1"
PRICE_SCALE = 10_000  # price(4): credit limits are notional in 1e-4 dollars
_PERCENT = r"^[0-9]+(\.[0-9]+)?%$"
_NOTIONAL = r"^[0-9]+(\.[0-9]+)?[KMB]?$"
_DURATION = r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d)$"
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9}

#: frequency -> (orders per second, burst): the account's token bucket
FREQUENCY_RATES: dict[str, tuple[int, int]] = {
    "ultra-high": (50_000, 5_000), "high": (5_000, 500), "medium": (500, 50)}
STRATEGY_TYPES = ("arbitrage", "momentum", "mean-reversion", "market-making")


def _str(pattern: str, expected: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "description": expected}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


_PCT = _str(_PERCENT, 'a percentage such as "0.5%"')
_DUR = _str(_DURATION, 'a duration such as "50us", "1m" or "1d"')

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "nanogate Strategy",
    **_obj({
        "apiVersion": {"enum": [API_VERSION]},
        "kind": {"enum": ["Strategy"]},
        "metadata": _obj({
            "name": _str(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                         "a lower-case name of letters, digits and '-' (at most 63)"),
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        }, ["name"]),
        "spec": _obj({
            "type": {"enum": list(STRATEGY_TYPES)},
            "account": {"type": "integer", "minimum": 0, "maximum": 65535},
            "instruments": {"type": "array", "minItems": 1, "uniqueItems": True,
                            "items": _str(r"^[A-Z][A-Z0-9.]{0,7}$",
                                          "an upper-case symbol of at most 8 characters")},
            "riskLimit": _PCT,
            "maxPositionSize": {"type": ["string", "integer"], "pattern": _NOTIONAL,
                                "description": 'a notional such as "10M" (K, M, B suffixes)'},
            "frequency": {"enum": list(FREQUENCY_RATES)},
            "riskControls": _obj({
                "stopLoss": _obj({"enabled": {"type": "boolean"}, "threshold": _PCT,
                                  "timeWindow": _DUR}, ["enabled"]),
                "drawdownLimit": _obj({"enabled": {"type": "boolean"}, "maxDrawdown": _PCT,
                                       "lookbackPeriod": _DUR}, ["enabled"]),
            }, []),
            "latency": _obj({"targetLatency": _DUR}, []),
            "params": {"type": "object"},
        }, ["type", "account", "instruments", "riskLimit", "maxPositionSize", "frequency"]),
    }, ["apiVersion", "kind", "metadata", "spec"]),
}


@dataclass(frozen=True)
class Violation:
    path: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, found {self.found}"


class SpecError(ValueError):
    """A spec that does not validate; ``violations`` lists every problem found."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "boolean": (bool,), "number": (int, float)}


_NOUNS = {"object": "a mapping", "array": "a list", "string": "a string",
          "integer": "an integer", "boolean": "true or false", "number": "a number"}


def _found(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value) if isinstance(value, str | int | float | bool) or value is None \
        else type(value).__name__


def _is(value: object, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def _check(value: object, schema: dict[str, Any], path: str, out: list[Violation]) -> None:
    if "enum" in schema:
        if value not in schema["enum"]:
            out.append(Violation(path, "one of " + ", ".join(map(str, schema["enum"])),
                                 _found(value)))
        return
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, name) for name in names):
            expected = schema.get("description") or " or ".join(_NOUNS[n] for n in names)
            out.append(Violation(path, expected, _found(value)))
            return
    if isinstance(value, str) and "pattern" in schema \
            and not re.fullmatch(schema["pattern"], value):
        out.append(Violation(path, schema.get("description", f"a match of {schema['pattern']}"),
                             _found(value)))
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            out.append(Violation(path, f"an integer in {low}..{high}", _found(value)))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(Violation(path, f"at least {schema['minItems']} item(s)", "none"))
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) != len(value):
            out.append(Violation(path, "distinct items", "a repeated item"))
        for index, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{index}]", out)
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key in schema.get("required", []):
            if key not in value:
                out.append(Violation(f"{path}.{key}", "a value (required field)", "nothing"))
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in properties:
                _check(item, properties[key], where, out)
            elif extra is False:
                known = ", ".join(properties)
                out.append(Violation(where, f"no unknown field (known: {known})",
                                     f"field {json.dumps(str(key))}"))
            elif isinstance(extra, dict):
                _check(item, extra, where, out)


def percent(text: str) -> Decimal:
    return Decimal(text.rstrip("%"))


def notional(value: str | int) -> Decimal:
    text = str(value)
    return Decimal(text.rstrip("KMB")) * _SUFFIX[text[-1] if text[-1] in "KMB" else ""]


@dataclass(frozen=True)
class StrategySpec:
    name: str
    document: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        body: dict[str, Any] = self.document["spec"]
        return body

    @property
    def account(self) -> int:
        return int(self.spec["account"])

    @property
    def instruments(self) -> list[str]:
        return [str(s) for s in self.spec["instruments"]]

    def canonical_json(self) -> str:
        return json.dumps(self.document, sort_keys=True, separators=(",", ":"))

    def account_limits(self) -> dict[str, int]:
        """The risk-pipeline limits of the strategy's account (see docs/control.md)."""
        rate, burst = FREQUENCY_RATES[str(self.spec["frequency"])]
        credit = int(notional(self.spec["maxPositionSize"]) * PRICE_SCALE)
        return {"credit_limit": credit, "rate_per_s": rate, "burst": burst}


def _semantics(document: dict[str, Any], out: list[Violation]) -> None:
    spec = document["spec"]
    if not 0 < percent(spec["riskLimit"]) <= 100:
        out.append(Violation("spec.riskLimit", "a percentage above 0% and at most 100%",
                             _found(spec["riskLimit"])))
    size = notional(spec["maxPositionSize"])
    if not 0 < size * PRICE_SCALE < 1 << 64:
        out.append(Violation("spec.maxPositionSize",
                             "a notional above 0 that fits the credit register (< 1.8e15)",
                             _found(spec["maxPositionSize"])))
    for name, key in (("stopLoss", "threshold"), ("drawdownLimit", "maxDrawdown")):
        control = spec.get("riskControls", {}).get(name)
        if control and control["enabled"] and key not in control:
            out.append(Violation(f"spec.riskControls.{name}.{key}",
                                 "a value when the control is enabled", "nothing"))
        elif control and key in control and not 0 < percent(control[key]) <= 100:
            out.append(Violation(f"spec.riskControls.{name}.{key}",
                                 "a percentage above 0% and at most 100%",
                                 _found(control[key])))
    out += _params(str(spec["type"]), spec.get("params"))


def _params(type_name: str, params: object) -> list[Violation]:
    """The strategy's own check of ``params`` (each type defines its fields and ranges)."""
    from nanogate.gateway.strategies.registry import validate_params

    violations = []
    for problem in validate_params(type_name, params):
        field, _, text = problem.partition(": ")
        expected, _, found = text.removeprefix("expected ").rpartition(", found ")
        if not expected:  # not in "expected X, found Y" form: say it whole
            expected, found = "a value this strategy type accepts", text
        violations.append(Violation(f"spec.{field}", expected, found))
    return violations


def validate(document: object) -> StrategySpec:
    out: list[Violation] = []
    _check(document, SCHEMA, "", out)
    for v in out:
        object.__setattr__(v, "path", v.path.lstrip(".") or "(document)")
    if not out and isinstance(document, dict):
        try:
            _semantics(document, out)
        except InvalidOperation:  # the patterns exclude this; kept as a clear error
            out.append(Violation("spec", "decimal numbers", "an unparsable number"))
    if out:
        raise SpecError(out)
    assert isinstance(document, dict)
    return StrategySpec(str(document["metadata"]["name"]), document)


def parse_spec(text: str) -> StrategySpec:
    """Parse one YAML (or JSON) Strategy document and validate it."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise SpecError([Violation("(document)", "valid YAML", str(error).replace("\n", " "))]) \
            from None
    if len(documents) != 1:
        raise SpecError([Violation("(document)", "exactly one document",
                                   f"{len(documents)} documents")])
    return validate(documents[0])


def render_schema() -> str:
    return json.dumps(SCHEMA, indent=2) + "\n"
