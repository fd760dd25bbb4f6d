"""Table entries of the risk pipeline from the control plane's state, as register writes.

``proto.risk.entry_writes`` stages one entry; here the state (limits, halts,
reduce-only) is turned into the values it stages. An instrument or account with no
limits is written unlisted, which the pipeline treats as `restricted` / `halted`.
"""

from __future__ import annotations

from typing import Any, Protocol

from nanogate.proto.risk import (
    ACCOUNT_FIELDS,
    INSTRUMENT_FIELDS,
    AccountFlags,
    InstrumentFlags,
    entry_writes,
)

INSTRUMENT_KEYS = tuple(f.key for f in INSTRUMENT_FIELDS if f.key != "halted")
ACCOUNT_KEYS = tuple(f.key for f in ACCOUNT_FIELDS if not f.flag)
BITS = {f.key: f.bits for f in (*INSTRUMENT_FIELDS, *ACCOUNT_FIELDS)}


class Registers(Protocol):
    def write_register(self, name: str, value: int) -> None: ...


def instrument_writes(limits: dict[str, Any] | None, halted: bool) -> list[tuple[str, int]]:
    if limits is None:
        # no limits: unlisted (restricted); a halt still shows as `halted`
        values: dict[str, int | bool] = dict.fromkeys(INSTRUMENT_KEYS, 0)
        values.update(restricted=True, halted=halted)
        listed = int(InstrumentFlags.LISTED) if halted else 0
    else:
        values = {key: limits.get(key, 0) for key in INSTRUMENT_KEYS}
        values["halted"] = halted
        listed = int(InstrumentFlags.LISTED)
    return entry_writes(INSTRUMENT_FIELDS, values, listed)


def account_writes(limits: dict[str, Any] | None, halted: bool, reduce_only: bool) \
        -> list[tuple[str, int]]:
    if limits is None:  # unlisted: the pipeline halts every order of the account
        values: dict[str, int | bool] = dict.fromkeys(ACCOUNT_KEYS, 0)
        values.update(halted=False, reduce_only=False)
        return entry_writes(ACCOUNT_FIELDS, values, 0)
    values = {key: limits.get(key, 0) for key in ACCOUNT_KEYS}
    values.update(halted=halted, reduce_only=reduce_only)
    return entry_writes(ACCOUNT_FIELDS, values, int(AccountFlags.LISTED))


def write_all(engine: Registers, writes: list[tuple[str, int]]) -> None:
    for name, value in writes:
        engine.write_register(name, value)
