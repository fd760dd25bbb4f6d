"""Strategy types by the name a spec gives (``spec.type``), and building them from specs.

``arbitrage`` is a type the spec schema names but this release does not
implement: building one is a clear StrategyConfigError, as is validating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nanogate.gateway.strategies.base import SpecLike, Strategy
from nanogate.gateway.strategies.market_making import MarketMaking
from nanogate.gateway.strategies.mean_reversion import MeanReversion
from nanogate.gateway.strategies.momentum import Momentum
from nanogate.gateway.strategies.params import StrategyConfigError, params_schema

__all__ = ["STRATEGIES", "UNIMPLEMENTED", "build", "build_all", "params_json_schema",
           "strategy_class", "validate_params"]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.TYPE: cls for cls in (MarketMaking, Momentum, MeanReversion)}
UNIMPLEMENTED = ("arbitrage",)


def strategy_class(type_name: str) -> type[Strategy]:
    cls = STRATEGIES.get(type_name)
    if cls is not None:
        return cls
    if type_name in UNIMPLEMENTED:
        raise StrategyConfigError(f"strategy type {type_name!r} is not implemented in this "
                                  f"release (implemented: {', '.join(STRATEGIES)})")
    raise StrategyConfigError(f"unknown strategy type {type_name!r} "
                              f"(known: {', '.join(STRATEGIES)})")


def validate_params(type_name: str, params: object) -> list[str]:
    """Every problem with ``params`` for ``type_name``, each naming its field; [] if none."""
    try:
        return strategy_class(type_name).check(params)
    except StrategyConfigError as error:
        return [f"type: {error}"]


def params_json_schema(type_name: str) -> dict[str, Any]:
    """The JSON-schema fragment of ``spec.params`` for one type (for control/spec.py)."""
    return params_schema(strategy_class(type_name).PARAMS)


def build(spec: SpecLike, locates: Mapping[str, int], slot: int = 1) -> Strategy:
    """The strategy a spec describes; StrategyConfigError names the strategy and field."""
    type_name = str(spec.spec.get("type"))
    try:
        cls = strategy_class(type_name)
    except StrategyConfigError as error:
        raise StrategyConfigError(f"strategy {spec.name}: {error}") from None
    return cls(spec, locates, slot)


def build_all(specs: Iterable[SpecLike], locates: Mapping[str, int]) -> list[Strategy]:
    """Every spec's strategy, order-id slots numbered per account (1, 2, ...) so ids never meet."""
    slots: dict[int, int] = {}
    built = []
    for spec in specs:
        slots[spec.account] = slots.get(spec.account, 0) + 1
        built.append(build(spec, locates, slots[spec.account]))
    return built
