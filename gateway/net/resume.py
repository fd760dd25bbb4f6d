"""The last applied sequence number, kept on disk so a restart asks only for what it missed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class ResumeError(ValueError):
    """A state file that exists but cannot be read back."""


@dataclass(frozen=True)
class ResumePoint:
    session: str
    next_sequence: int  # last applied + 1


class ResumeFile:
    """Atomic writes (a sibling file renamed over the old one), at most every ``every_ns``."""

    def __init__(self, path: str | Path, every_ns: int = 20_000_000) -> None:
        self.path = Path(path)
        self.every_ns = every_ns
        self._last_write = -every_ns
        self._last: ResumePoint | None = None

    def load(self) -> ResumePoint | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            point = ResumePoint(str(data["session"]), int(data["next_sequence"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ResumeError(f"{self.path}: not a gateway state file ({error})") from None
        if point.next_sequence < 1:
            raise ResumeError(f"{self.path}: next_sequence {point.next_sequence} < 1")
        self._last = point
        return point

    def save(self, point: ResumePoint, now_ns: int, *, force: bool = False) -> None:
        if point == self._last or (not force and now_ns - self._last_write < self.every_ns):
            return
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"session": point.session,
                                       "next_sequence": point.next_sequence}))
        os.replace(partial, self.path)
        self._last, self._last_write = point, now_ns
