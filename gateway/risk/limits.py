"""The limits file: load, validate, and turn into register writes.

The file (YAML) states the same fields the control plane writes::

    global: {kill_switch: false}
    instruments:
      - {stock_locate: 1, reference_price: 1500000, collar_bps: 500, max_qty: 10000,
         max_notional: 10000000000, max_long: 50000, max_short: 50000,
         restricted: false, halted: false}
    accounts:
      - {account: 7, credit_limit: 50000000000, rate_per_s: 1000, burst: 50,
         halted: false, reduce_only: false}

An entry whose id (``stock_locate`` / ``account``) is ``default`` gives every table
index not listed; without one, unlisted instruments are ``restricted`` and unlisted
accounts ``halted``. Every field of an entry is required; unknown keys, wrong types and
values that do not fit their register are errors naming the entry and key.
:func:`limits_writes` gives the register writes that load a file into any backend, so
the software model and the gateware are configured by the very same writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from nanogate.proto.risk import (
    ACCOUNT_FIELDS,
    INSTRUMENT_FIELDS,
    AccountFlags,
    InstrumentFlags,
    LimitField,
    entry_writes,
)

DEFAULT = "default"
_ID_BITS = 16

Entry = dict[str, int | bool]


class LimitsError(ValueError):
    """A limits file that cannot be used; the message names the file, entry and key."""


@dataclass(frozen=True)
class Limits:
    kill_switch: bool = False
    instruments: dict[int, Entry] = field(default_factory=dict)
    accounts: dict[int, Entry] = field(default_factory=dict)
    default_instrument: Entry | None = None
    default_account: Entry | None = None


class _Registers(Protocol):
    def read_register(self, name: str) -> int: ...

    def write_register(self, name: str, value: int) -> None: ...


def _entry(raw: object, where: str, id_key: str, fields: tuple[LimitField, ...]) \
        -> tuple[int | None, Entry]:
    if not isinstance(raw, Mapping):
        raise LimitsError(f"{where}: expected a mapping of limits, got {type(raw).__name__}")
    known = {id_key, *(f.key for f in fields)}
    for key in raw:
        if key not in known:
            raise LimitsError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    if id_key not in raw:
        raise LimitsError(f"{where}: missing key {id_key!r}")
    ident = raw[id_key]
    index: int | None
    if ident == DEFAULT:
        index = None
    elif isinstance(ident, int) and not isinstance(ident, bool) and 0 <= ident < 1 << _ID_BITS:
        index = ident
    else:
        raise LimitsError(f"{where}: {id_key}: {ident!r} is neither {DEFAULT!r} nor an "
                          f"integer in 0..{(1 << _ID_BITS) - 1}")
    entry: Entry = {}
    for f in fields:
        if f.key not in raw:
            raise LimitsError(f"{where}: missing key {f.key!r}")
        value = raw[f.key]
        if f.flag:
            if not isinstance(value, bool):
                raise LimitsError(f"{where}: {f.key}: expected true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise LimitsError(f"{where}: {f.key}: expected an integer, got {value!r}")
        elif not 0 <= value < 1 << f.bits:
            raise LimitsError(f"{where}: {f.key}: {value} is out of range "
                              f"0..{(1 << f.bits) - 1}")
        entry[f.key] = value
    return index, entry


def _table(raw: object, where: str, id_key: str, fields: tuple[LimitField, ...]) \
        -> tuple[dict[int, Entry], Entry | None]:
    if raw is None:
        return {}, None
    if not isinstance(raw, list):
        raise LimitsError(f"{where}: expected a list of entries, got {type(raw).__name__}")
    table: dict[int, Entry] = {}
    default: Entry | None = None
    for position, item in enumerate(raw):
        here = f"{where}[{position}]"
        index, entry = _entry(item, here, id_key, fields)
        if index is None:
            if default is not None:
                raise LimitsError(f"{here}: a second {DEFAULT!r} entry")
            default = entry
        elif index in table:
            raise LimitsError(f"{here}: {id_key} {index} listed twice")
        else:
            table[index] = entry
    return table, default


def parse_limits(document: object, source: str = "limits") -> Limits:
    """Validate a parsed limits document; errors name ``source``, the entry and the key."""
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise LimitsError(f"{source}: expected a mapping at the top level")
    for key in document:
        if key not in ("global", "instruments", "accounts"):
            raise LimitsError(f"{source}: unknown key {key!r} "
                              "(known: accounts, global, instruments)")
    glob = document.get("global") or {}
    if not isinstance(glob, Mapping):
        raise LimitsError(f"{source}: global: expected a mapping")
    for key in glob:
        if key != "kill_switch":
            raise LimitsError(f"{source}: global: unknown key {key!r} (known: kill_switch)")
    kill = glob.get("kill_switch", False)
    if not isinstance(kill, bool):
        raise LimitsError(f"{source}: global: kill_switch: expected true or false, got {kill!r}")
    instruments, default_instrument = _table(
        document.get("instruments"), f"{source}: instruments", "stock_locate", INSTRUMENT_FIELDS)
    accounts, default_account = _table(
        document.get("accounts"), f"{source}: accounts", "account", ACCOUNT_FIELDS)
    return Limits(kill, instruments, accounts, default_instrument, default_account)


def load_limits(path: Path | str) -> Limits:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise LimitsError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise LimitsError(f"{path}: not valid YAML: {error}") from None
    return parse_limits(document, str(path))


def limits_writes(limits: Limits, instruments: int, accounts: int) -> list[tuple[str, int]]:
    """The register writes that load ``limits`` into tables of the given sizes."""
    writes: list[tuple[str, int]] = [("kill_switch", int(limits.kill_switch))]
    for prefix, table, default, fields, listed, size, what in (
            ("inst", limits.instruments, limits.default_instrument, INSTRUMENT_FIELDS,
             InstrumentFlags.LISTED, instruments, "stock_locate"),
            ("acct", limits.accounts, limits.default_account, ACCOUNT_FIELDS,
             AccountFlags.LISTED, accounts, "account")):
        outside = [index for index in table if index >= size]
        if outside:
            raise LimitsError(f"{what} {outside[0]} is outside the table ({size} entries)")
        if default is not None:
            # Staged once, committed to every index the file does not list.
            writes += entry_writes(fields, default, listed)
            writes += [(f"{prefix}_commit", index) for index in range(size)
                       if index not in table]
        for index, entry in sorted(table.items()):
            writes += entry_writes(fields, entry, listed)
            writes.append((f"{prefix}_commit", index))
    return writes


def table_sizes(engine: _Registers) -> tuple[int, int]:
    """(instruments, accounts) table sizes, read from the ``table_sizes`` register."""
    value = engine.read_register("table_sizes")
    return 1 << (value & 0xFF), 1 << (value >> 8 & 0xFF)


def apply_limits(engine: _Registers, limits: Limits) -> None:
    """Load ``limits`` into a risk engine (any backend) through its registers."""
    for name, value in limits_writes(limits, *table_sizes(engine)):
        engine.write_register(name, value)
