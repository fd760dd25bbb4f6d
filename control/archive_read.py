"""Reading the daily archive back, and the layout of its files on disk.

``ARCHIVE_DIR/YYYY-MM-DD/TABLE-NNNNNN.parquet``: one folder per UTC day, one numbered
file ("part") per table and flush. This module knows that layout: it lists days and
parts, reads a day's tables (skipping parts a compacted file replaces), merges parts
(:func:`compact`) and writes one part atomically (:func:`write_part`, which the
writer and compaction share). It is separate from the writer
(:mod:`nanogate.control.archive`) because readers (reports, tests) need none of the
buffering, the writer thread or the audit-log copy.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from nanogate.control.archive_schema import (
    TABLE_NAMES,
    TABLES_BY_NAME,
    ArchiveError,
    arrow_schema,
    load_pyarrow,
)

# --- the layout: day folders of numbered parts ----------------------------------------

ARCHIVE_FOLDER = "archive"  # beside the control database
#: Compacted files name the part numbers they replace under this metadata key.
REPLACES_KEY = b"nanogate.replaces"
_PART = re.compile(r"^(?P<table>[a-z]+)-(?P<part>\d{6})\.parquet$")


def write_part(pa: Any, folder: Path, name: str, part: int, table: Any,
               metadata: dict[bytes, bytes] | None = None) -> int:
    """Write one part; returns its number (the next free one from ``part`` on).

    Written under a temporary name, then linked to its part name, which fails rather than
    overwrites when another writer took that number: a part name is always a complete
    file, and no file is ever replaced.
    """
    if metadata:
        table = table.replace_schema_metadata(metadata)
    tmp = folder / f".{name}-{part:06d}.{os.getpid()}.{threading.get_ident()}.tmp"
    pa.parquet.write_table(table, tmp, compression="zstd")
    try:
        while True:
            try:
                os.link(tmp, folder / f"{name}-{part:06d}.parquet")
                return part
            except FileExistsError:
                part += 1
    finally:
        tmp.unlink(missing_ok=True)


def _is_day(name: str) -> bool:
    try:
        return len(name) == 10 and date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def default_directory(db_path: Path | str) -> Path:
    return Path(db_path).resolve().parent / ARCHIVE_FOLDER


def parts(folder: Path, name: str) -> list[tuple[int, Path]]:
    """The part files of one table in a day folder, by part number."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _PART.match(path.name)
        if match and match["table"] == name:
            found.append((int(match["part"]), path))
    return sorted(found)


def next_part(folder: Path, name: str) -> int:
    existing = parts(folder, name)
    return existing[-1][0] + 1 if existing else 1


# --- reading ------------------------------------------------------------------------

def _read_file(path: Path, name: str) -> Any:
    pa = load_pyarrow()
    try:
        table = pa.parquet.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise ArchiveError(f"{path}: not a readable Parquet file ({error})") from None
    expected = arrow_schema(name)
    if not table.schema.remove_metadata().equals(expected):
        raise ArchiveError(f"{path}: its columns do not match the {name} table "
                           f"(found {', '.join(table.schema.names)})")
    return table


def _replaced(table: Any) -> set[int]:
    meta = table.schema.metadata or {}
    raw = meta.get(REPLACES_KEY, b"")
    return {int(x) for x in raw.decode().split(",") if x}


def read_table(directory: Path | str, day: date, name: str) -> Any:
    """One table of one day, every part in order (an empty table when there is none).

    Raises :class:`ArchiveError` naming the file that cannot be read.
    """
    if name not in TABLES_BY_NAME:
        raise ArchiveError(f"unknown table {name!r} (known: {', '.join(TABLE_NAMES)})")
    pa = load_pyarrow()
    loaded = [(n, _read_file(p, name)) for n, p in parts(Path(directory) / day.isoformat(),
                                                         name)]
    skip: set[int] = set()
    for _, table in loaded:
        skip |= _replaced(table)
    tables = [t.replace_schema_metadata(None) for n, t in loaded if n not in skip]
    if not tables:
        return arrow_schema(name).empty_table()
    return pa.concat_tables(tables)


def read_day(directory: Path | str, day: date) -> dict[str, Any]:
    """Every table of one day, by name (pyarrow Tables, empty where nothing was written)."""
    return {name: read_table(directory, day, name) for name in TABLE_NAMES}


def days(directory: Path | str) -> list[date]:
    """The days the archive holds."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(date.fromisoformat(p.name) for p in root.iterdir()
                  if _is_day(p.name) and p.is_dir())


def compact(directory: Path | str, day: date, name: str) -> None:
    """Merge one table's parts of one day into one file (no-op for one part or none)."""
    folder = Path(directory) / day.isoformat()
    existing = parts(folder, name)
    if len(existing) < 2:
        return
    table = read_table(directory, day, name)
    replaced = ",".join(str(n) for n, _ in existing).encode()
    write_part(load_pyarrow(), folder, name, existing[-1][0] + 1, table,
                {REPLACES_KEY: replaced})
    for _, path in existing:  # a crash here leaves parts the new file names: read skips them
        path.unlink(missing_ok=True)


def iter_rows(table: Any) -> Iterable[dict[str, Any]]:
    """Rows of a pyarrow table as dicts (timestamps as integer ns)."""
    pa = load_pyarrow()
    columns = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.int64())
        columns[field.name] = column.to_pylist()
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))
