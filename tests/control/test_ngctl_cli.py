"""ngctl as an operator meets it: follow, connection precedence, confirmation prompts.

Over real gRPC on loopback; the subprocess tests run ``python -m nanogate.control.ngctl``,
each bounded by timeouts so that a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from nanogate.control import ngctl

Ctl = Any
Harness = Any
HALT = ("halt", "--instrument", "AAPL", "--reason", "news")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOGATE_")}
    return {**env, "NGCTL_CONFIG": str(tmp_path / "no-config.yaml"), "PYTHONUNBUFFERED": "1"}


def _spawn(harness: Harness, token: str, tmp_path: Path, *argv: str,
           **kwargs: Any) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "nanogate.control.ngctl", "-s", harness.address,
               "--token", token, "--timeout", "5", *argv]
    return subprocess.Popen(command, text=True, env=_env(tmp_path), **kwargs)


def _lines(stream: Any) -> queue.Queue[str]:
    """Lines of a pipe, read on a daemon thread, so that a test can wait with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _finish(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


# --- events --follow -------------------------------------------------------------------------

def test_events_follow_prints_new_events_until_interrupted(
        harness: Harness, ctl: Ctl, tokens: dict[str, str], tmp_path: Path) -> None:
    assert ctl("symbols", "AAPL=1", "MSFT=2")[0] == 0
    process = _spawn(harness, tokens["viewer"], tmp_path, "events", "--follow", "--type",
                     "halt", "-o", "json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        lines = _lines(process.stdout)
        assert ctl(*HALT, "--yes", role="risk")[0] == 0
        first = json.loads(lines.get(timeout=20))
        assert first["type"] == "halt" and first["summary"] == "instrument/1 halted: news"
        assert first["actor"] == "risk"
        assert process.poll() is None  # still following after the first event
        assert ctl("halt", "--instrument", "MSFT", "--reason", "later", "--yes")[0] == 0
        assert ctl("resume", "--instrument", "MSFT")[0] == 0  # filtered out: not a halt
        second = json.loads(lines.get(timeout=20))
        assert second["summary"] == "instrument/2 halted: later" and second["id"] > first["id"]
        process.send_signal(signal.SIGINT)  # how an operator stops it
        assert process.wait(timeout=20) == ngctl.EXIT_INTERRUPTED
    finally:
        _finish(process)
    assert lines.empty()
    assert process.stderr is not None and process.stderr.read() == "ngctl: interrupted\n"


def test_events_follow_with_limit_stops_by_itself(
        harness: Harness, ctl: Ctl, tokens: dict[str, str], tmp_path: Path) -> None:
    assert ctl("symbols", "AAPL=1")[0] == 0
    process = _spawn(harness, tokens["viewer"], tmp_path, "events", "--follow", "--type",
                     "resume", "--limit", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert ctl(*HALT, "--yes")[0] == 0
        assert ctl("resume", "--instrument", "AAPL", "--reason", "news out")[0] == 0
        out, err = process.communicate(timeout=20)
    finally:
        _finish(process)
    assert process.returncode == 0 and err == ""
    assert len(out.splitlines()) == 1 and "resume" in out and "instrument/1 resumed" in out


# --- where the address and token come from ---------------------------------------------------

def _call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = ngctl.main(["--timeout", "3", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _last_actor(capsys: pytest.CaptureFixture[str], address: str, token: str) -> str:
    code, out, _ = _call(capsys, "-s", address, "--token", token, "get", "audit", "-o", "json")
    assert code == 0
    return str(json.loads(out)[-1]["actor"])


def test_connection_flags_beat_environment_beat_config_file(
        harness: Harness, tokens: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    dead = "127.0.0.1:1"  # nothing listens there: a call to it fails (exit 1)
    config = tmp_path / "ngctl.yaml"
    monkeypatch.setenv("NGCTL_CONFIG", str(config))
    for name in ("NANOGATE_ADDR", "NANOGATE_TOKEN", "NANOGATE_CA", "NANOGATE_CERT",
                 "NANOGATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    halt = ("halt", "--all", "--reason", "drill", "--yes")

    # the config file alone: its address and its (viewer) token
    config.write_text(f"address: {harness.address}\ntoken: {tokens['viewer']}\n")
    assert _call(capsys, "get", "halts")[0] == 0
    code, _, err = _call(capsys, *halt)
    assert code == 3 and "needs admin or risk" in err

    # the environment beats the file: the file's address is dead, its token a viewer's
    config.write_text(f"address: {dead}\ntoken: {tokens['viewer']}\n")
    assert _call(capsys, "get", "halts")[0] == 1
    monkeypatch.setenv("NANOGATE_ADDR", harness.address)
    monkeypatch.setenv("NANOGATE_TOKEN", tokens["risk"])
    assert _call(capsys, *halt)[0] == 0
    assert _last_actor(capsys, harness.address, tokens["admin"]) == "risk"

    # flags beat the environment: the environment's address is dead, its token a viewer's
    monkeypatch.setenv("NANOGATE_ADDR", dead)
    monkeypatch.setenv("NANOGATE_TOKEN", tokens["viewer"])
    assert _call(capsys, *halt[:-1])[0] == 2  # no terminal, no --yes: asks nobody
    code, _, err = _call(capsys, "--token", tokens["admin"], "get", "halts")
    assert code == 1 and "unavailable" in err  # the environment's address, not the file's
    code, out, err = _call(capsys, "-s", harness.address, "--token", tokens["admin"],
                           "resume", "--all")
    assert code == 0 and out == "ALL trading (kill switch) resumed\n", err
    assert _last_actor(capsys, harness.address, tokens["admin"]) == "admin"
    assert _call(capsys, "-s", harness.address, "status")[0] == 0  # token from the env
    assert _call(capsys, "-s", harness.address, *halt)[0] == 3  # ... a viewer's


def test_config_file_locations(harness: Harness, tokens: dict[str, str], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("NANOGATE_ADDR", "NANOGATE_TOKEN", "NGCTL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    good = f"address: {harness.address}\ntoken: {tokens['admin']}\n"
    # ~/.config/nanogate/ngctl.yaml when nothing names another file
    home = tmp_path / "home"
    (home / ".config" / "nanogate").mkdir(parents=True)
    (home / ".config" / "nanogate" / "ngctl.yaml").write_text(good)
    monkeypatch.setenv("HOME", str(home))
    assert _call(capsys, "status")[0] == 0
    # NGCTL_CONFIG beats the default; --config beats NGCTL_CONFIG
    (tmp_path / "dead.yaml").write_text("address: 127.0.0.1:1\n")
    (tmp_path / "good.yaml").write_text(good)
    monkeypatch.setenv("NGCTL_CONFIG", str(tmp_path / "dead.yaml"))
    assert _call(capsys, "status")[0] == 1
    assert _call(capsys, "--config", str(tmp_path / "good.yaml"), "status")[0] == 0
    # a named file that is missing or malformed, or half a client certificate: usage
    code, _, err = _call(capsys, "--config", str(tmp_path / "missing.yaml"), "status")
    assert code == 2 and "no such config file" in err
    (tmp_path / "list.yaml").write_text("- address\n")
    code, _, err = _call(capsys, "--config", str(tmp_path / "list.yaml"), "status")
    assert code == 2 and "expected a mapping" in err
    monkeypatch.setenv("NANOGATE_CERT", str(tmp_path / "client.pem"))
    code, _, err = _call(capsys, "--config", str(tmp_path / "good.yaml"), "status")
    assert code == 2 and "needs both cert and key" in err


# --- confirmation --------------------------------------------------------------------------

class Terminal(io.StringIO):
    """A stdin that is a terminal, with the operator's answer already typed."""

    def isatty(self) -> bool:
        return True


class NoTerminal:
    """A stdin that is not a terminal and must not be read."""

    def isatty(self) -> bool:
        return False

    def read(self, *_: Any) -> str:
        raise AssertionError("ngctl read stdin without a terminal")

    readline = read


@pytest.mark.parametrize("answer", ["y\n", "YES\n"])
def test_confirmation_yes_goes_ahead(ctl: Ctl, monkeypatch: pytest.MonkeyPatch,
                                     answer: str) -> None:
    ctl("symbols", "AAPL=1")
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    code, out, err = ctl(*HALT)
    assert code == 0
    assert out == "instrument AAPL halted\n"  # data only: the prompt is not on stdout
    assert err == "halt instrument AAPL? [y/N] "
    assert json.loads(ctl("get", "halts", "-o", "json")[1])["halts"][0]["reason"] == "news"


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "whatever\n"])
def test_confirmation_no_does_nothing_and_exits_1(ctl: Ctl, monkeypatch: pytest.MonkeyPatch,
                                                  answer: str) -> None:
    ctl("symbols", "AAPL=1")
    for argv in (HALT, ("cancel-all", "--account", "3"), ("delete", "strategy", "mm-aapl")):
        monkeypatch.setattr(sys, "stdin", Terminal(answer))
        code, out, err = ctl(*argv)
        assert code == ngctl.EXIT_FAILED == 1
        assert out == ""
        question = err.split("? [y/N] ")[0]
        assert err == f"{question}? [y/N] ngctl: {question}: not confirmed, nothing done\n"
    assert json.loads(ctl("get", "halts", "-o", "json")[1]).get("halts", []) == []
    actions = [r["action"] for r in json.loads(ctl("get", "audit", "-o", "json")[1])]
    assert actions == ["set_symbols"]  # nothing reached the server


def test_no_terminal_never_prompts(ctl: Ctl, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl("symbols", "AAPL=1")
    monkeypatch.setattr(sys, "stdin", NoTerminal())
    for argv in (HALT, ("cancel-all",), ("delete", "strategy", "mm-aapl")):
        code, out, err = ctl(*argv)
        assert code == ngctl.EXIT_USAGE and out == ""
        assert "refusing without --yes (no terminal to ask on)" in err and "[y/N]" not in err
    assert ctl(*HALT, "--yes")[0] == 0  # --yes needs no terminal


def test_prompt_on_a_real_terminal(harness: Harness, ctl: Ctl, tokens: dict[str, str],
                                   tmp_path: Path) -> None:
    """Under a pseudo-terminal: the prompt goes to stderr, the answer is read from the tty."""
    ctl("symbols", "AAPL=1", "MSFT=2")
    for symbol, answer, expected in (("AAPL", b"n\n", 1), ("MSFT", b"y\n", 0)):
        primary, secondary = os.openpty()
        process = _spawn(harness, tokens["risk"], tmp_path, "halt", "--instrument", symbol,
                         "--reason", "pty", stdin=secondary, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        os.close(secondary)
        try:
            os.write(primary, answer)  # typed ahead: the terminal keeps it for the read
            out, err = process.communicate(timeout=20)
        finally:
            _finish(process)
            os.close(primary)
        assert process.returncode == expected, err
        assert err.startswith(f"halt instrument {symbol}? [y/N] ")
        assert out == ("" if expected else f"instrument {symbol} halted\n")
    halts = json.loads(ctl("get", "halts", "-o", "json")[1])["halts"]
    assert [h["target"]["symbol"] for h in halts] == ["MSFT"]
