from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.control.spec import STRATEGY_TYPES, parse_spec
from nanogate.gateway.strategies.market_making import MarketMaking
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.strategies.registry import (
    STRATEGIES,
    build,
    params_json_schema,
    validate_params,
)

from .kit import LOCATES, make_spec


def test_every_spec_type_is_implemented_or_named_as_not() -> None:
    assert set(STRATEGIES) | {"arbitrage"} == set(STRATEGY_TYPES)
    with pytest.raises(StrategyConfigError, match=r"strategy s1: .*'arbitrage' is not implemented"):
        build(make_spec("arbitrage"), LOCATES)


def test_the_examples_build() -> None:
    paths = sorted((Path(__file__).parents[3] / "examples" / "strategies").glob("*.yaml"))
    assert paths
    for path in paths:
        spec = parse_spec(path.read_text())
        assert build(spec, {"AAPL": 1, "MSFT": 2}).name == spec.name


def test_validate_params_lists_every_problem() -> None:
    assert validate_params("market-making", {"spread_bps": 5}) == []
    errors = validate_params("market-making", {"spread_bps": "5", "size": 3})
    assert len(errors) == 2 and errors[0].startswith("params.spread_bps: expected a number")
    assert errors[1].startswith("params.size: unknown field (known: spread_bps")
    assert validate_params("momentum", [1]) == ["params: expected a mapping, found list"]
    assert validate_params("nope", {})[0].startswith("type: unknown strategy type 'nope'")


def test_the_params_schema_matches_the_table() -> None:
    schema = params_json_schema("market-making")
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {p.name for p in MarketMaking.PARAMS}
    assert schema["properties"]["quote_size"]["type"] == "integer"
    assert schema["properties"]["spread_bps"]["default"] == 10.0
