"""Running the external tools a deploy needs (AWS FPGA management tools, ssh, scp).

One place turns "not on PATH", "exited non-zero" and "timed out" into a
:class:`ToolError` whose message names the command and shows its output, so
every deploy step reports a failure the same way.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass


class ToolError(RuntimeError):
    """An external tool that is missing, failed or timed out."""


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]
    stdout: str
    stderr: str


def run_tool(argv: Sequence[str], *, hint: str = "", timeout: float = 600.0) -> ToolResult:
    """Run ``argv``; a :class:`ToolError` (with ``hint`` when the tool is missing) on failure."""
    if shutil.which(argv[0]) is None:
        raise ToolError(f"{argv[0]} not found on PATH" + (f": {hint}" if hint else ""))
    command = shlex.join(argv)
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{command}` did not finish within {timeout:g} s") from None
    except OSError as error:
        raise ToolError(f"cannot run `{command}`: {error.strerror or error}") from None
    if done.returncode != 0:
        output = "\n".join(part.strip() for part in (done.stderr, done.stdout) if part.strip())
        raise ToolError(f"`{command}` failed (exit status {done.returncode})"
                        + (f":\n{output}" if output else ""))
    return ToolResult(tuple(argv), done.stdout, done.stderr)
