"""What the tests share: one trace builder and one two-ended driver.

* :class:`Trace` builds a version-1 trace line by line — the header, socket
  calls, states, extension events, or raw text for input that is meant to
  be malformed — with the project's one trace writer
  (:mod:`tcpconform.check.trace`), and reads or checks it.
* :func:`client_and_server` starts a trace with a listener, a client
  connected to it and the connection accepted, checked by the model as it
  is written (in the style of aioquic's ``client_and_server``), so that a
  test writes only what it is about and asks for the verdict.

Import as ``from tests.helpers import Trace, call, state, client_and_server``
(``pythonpath`` in pyproject.toml puts the checkout on the path).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterable

import pytest

from tcpconform.check.search import Verdict, check_trace
from tcpconform.check.trace import (
    CALL_ARGS, Event, Header, TraceError, call_event, event_line, read_trace, state_event, trace_header,
)

__all__ = ["Trace", "call", "state", "addr", "client_and_server", "HOST", "LISTEN_PORT", "CLIENT_PORT"]

HOST = "127.0.0.1"
LISTEN_PORT = 5000     # the listener's port in the traces built here
CLIENT_PORT = 40000    # the first client's


def call(sock: str, op: str, ret: str = "ok", **fields: Any) -> dict:
    """A ``call`` event, its fields in the format's order: what the call was
    asked (``addr``, ``len``, ...) before ``ret``, what it returned after."""
    args = {k: v for k, v in fields.items() if k in CALL_ARGS}
    return call_event(sock, op, ret, args, **{k: v for k, v in fields.items() if k not in CALL_ARGS})


def state(sock: str, st: str) -> dict:
    """A ``state`` event."""
    return state_event(sock, st)


def addr(port: int, host: str = HOST) -> str:
    """``"127.0.0.1:PORT"``."""
    return f"{host}:{port}"


class Trace:
    """A trace under construction: the header (``Trace(profile="posix")``,
    or a header object, or a raw header line), then one line per event.

    Every method that adds a line returns the trace, so that calls chain;
    :attr:`last` is the number of the last line (the header is line 1)."""

    def __init__(self, header: dict | str | None = None, **fields: Any) -> None:
        if header is not None and fields:
            raise TypeError("give the header either whole or as fields, not both")
        self.items: list[dict | str] = [trace_header(**fields) if header is None else header]

    # -- writing -------------------------------------------------------------

    def call(self, sock: str, op: str, ret: str = "ok", **fields: Any) -> "Trace":
        """Add a ``call`` event (see :func:`call`)."""
        return self.add(call(sock, op, ret, **fields))

    def state(self, sock: str, st: str) -> "Trace":
        """Add a ``state`` event."""
        return self.add(state_event(sock, st))

    def add(self, *items: dict | str) -> "Trace":
        """Add events given whole: objects (an ``x-`` event, a call with its
        fields in an order of its own) or lines of text, written as they are
        (input that is not a valid event, on purpose)."""
        self.items.extend(items)
        return self

    @classmethod
    def of(cls, items: Iterable[dict | str]) -> "Trace":
        """A trace of objects or lines given whole, the header first."""
        first, *rest = items
        return cls(first).add(*rest)

    @classmethod
    def from_text(cls, text: str) -> "Trace":
        """A trace of JSON Lines text (one written by ``conform``, say), each line as its object."""
        return cls.of(json.loads(line) for line in text.splitlines())

    def copy(self) -> "Trace":
        return Trace.of(self.items)

    # -- the trace -------------------------------------------------------------

    @property
    def last(self) -> int:
        """The number of the last line (header = 1)."""
        return len(self.items)

    @property
    def objects(self) -> list[dict]:
        """Every line as its JSON object, the header first (no raw lines allowed)."""
        if not all(isinstance(x, dict) for x in self.items):
            raise TypeError("the trace has raw lines")
        return list(self.items)  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        return [x if isinstance(x, str) else event_line(x) for x in self.items]

    def text(self) -> str:
        """The trace as JSON Lines, with a final newline."""
        return "".join(line + "\n" for line in self.lines())

    def data(self) -> bytes:
        return self.text().encode()

    def write(self, path: Path) -> Path:
        path.write_text(self.text())
        return path

    # -- reading and checking ----------------------------------------------------

    def read(self) -> tuple[Header, list[Event]]:
        """The header and every event, parsed (raises :class:`TraceError`)."""
        header, events = read_trace(io.BytesIO(self.data()))
        return header, list(events)

    def error(self) -> TraceError:
        """The :class:`TraceError` reading the trace raises (fails the test if it reads)."""
        with pytest.raises(TraceError) as info:
            self.read()
        return info.value

    def verdict(self, fast: bool = True) -> Verdict:
        """What ``conform check`` says of the trace (``fast``: the memoised search)."""
        header, events = read_trace(io.BytesIO(self.data()))
        return check_trace(header, events, fast=fast)

    def conforms(self) -> Verdict:
        """The verdict, which must be that the model explains the trace."""
        v = self.verdict()
        assert v.verdict == "conforms", self._show(v)
        return v

    def diverges(self, at: int | None = None) -> Verdict:
        """The verdict, which must be a divergence at line ``at`` (default: the last line)."""
        v = self.verdict()
        want = self.last if at is None else at
        assert (v.verdict, v.line) == ("diverges", want), self._show(v) + f"\n(expected a divergence at line {want})"
        return v

    def _show(self, v: Verdict) -> str:
        numbered = "".join(f"{i:4} {line}\n" for i, line in enumerate(self.lines(), 1))
        return (f"{v.verdict} at line {v.line}: {v.reason}\nmodel allowed: {', '.join(v.allowed) or 'nothing'}\n"
                f"{numbered}")


def client_and_server(*, backlog: int = 1, nonblock: bool = False, accept: bool = True,
                      listener: str = "L", client: str = "c", server: str = "s",
                      listen_port: int = LISTEN_PORT, client_port: int = CLIENT_PORT, **header: Any) -> Trace:
    """A trace that opens one connection through the model and leaves the rest to the test.

    The listener ``listener`` binds to port 0 of 127.0.0.1 and gets
    ``listen_port``, listens with ``backlog`` and is seen in LISTEN; the
    client ``client`` (non-blocking with ``nonblock``) is seen CLOSED,
    connects from ``client_port`` (ok, or EINPROGRESS when non-blocking) and
    is seen ESTABLISHED; with ``accept``, the listener accepts the connection
    as ``server``.  ``header`` fields (``profile``, ``world``, ``meta``) go
    into the header.  The model must explain all of it (else the test fails
    here, with the model's verdict); the test adds its own events and asks
    :meth:`Trace.conforms` or :meth:`Trace.diverges`.
    """
    t = Trace(**header)
    t.call(listener, "socket").call(listener, "bind", addr=addr(0), local=addr(listen_port))
    t.call(listener, "listen", backlog=backlog).state(listener, "LISTEN")
    t.call(client, "socket", **({"nonblock": True} if nonblock else {})).state(client, "CLOSED")
    t.call(client, "connect", "EINPROGRESS" if nonblock else "ok", addr=addr(listen_port), local=addr(client_port))
    t.state(client, "ESTABLISHED")
    if accept:
        t.call(listener, "accept", new=server, local=addr(listen_port), peer=addr(client_port))
    t.conforms()
    return t


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (its trace generators are the tests' too)."""
    import importlib.util
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def proved(out: dict, kind: str) -> list[dict]:
    """The ``conform prove --json`` results of one kind ("property" or "witness")."""
    assert out["command"] == "prove", out
    return [r for r in out["results"] if r["kind"] == kind]


def run_command(cmd: list[str], cwd: Path, *, stderr_tty: bool, timeout: float = 300) -> tuple[int, str, str]:
    """Run ``cmd``: its exit status, stdout and stderr, with stderr a pipe or,
    with ``stderr_tty``, a real pseudo-terminal (what a user at a terminal sees)."""
    import os
    import pty
    import subprocess
    if not stderr_tty:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    main, sub = pty.openpty()
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=sub, text=True, timeout=timeout)
        os.close(sub)
        sub = -1
        err = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            err += chunk
        return p.returncode, p.stdout, err.decode()
    finally:
        os.close(main)
        if sub >= 0:
            os.close(sub)
