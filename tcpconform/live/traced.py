"""``conform trace``: any program's TCP sockets, checked against the model.

A run records an strace log (:mod:`tcpconform.live.tracer`) of a command, of
a running process, or takes one (or several, merged by time) recorded
elsewhere; :func:`tcpconform.strace.convert.trace_text` turns it into a
version-2 trace, and the trace is checked as ``conform check`` checks one.
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field

from tcpconform.check.search import check_trace
from tcpconform.check.trace import TraceError, read_trace
from tcpconform.live import sysctl, tracepoint, tracer
from tcpconform.live.recorder_v2 import SYSCTLS
from tcpconform.model import vocab
from tcpconform.strace.convert import (Infeasible, LogError, Summary, merge, overlapping_moves, render,
                                       trace_parts)

__all__ = ["Traced", "TraceFailed", "trace_log", "trace_command", "trace_pid", "check_text"]


class TraceFailed(Exception):
    """The tracing could not be done or its input could not be read; ``line``: where, if known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Traced:
    """A program's TCP calls as a trace, and its verdict."""
    text: str
    summary: Summary
    header: object
    verdict: object
    program: dict = field(default_factory=dict)


def check_text(text: str, coverage: bool = False, limits=None):
    """The header and verdict of a trace given as text (``limits``: the search's bounds, or the defaults)."""
    header, events = read_trace(text.encode().splitlines(keepends=True))
    return header, check_trace(header, events, coverage=coverage, limits=limits)


def _header(live: bool, meta: dict, profile: str | None = None, netns: bool = False) -> dict:
    head = {"trace": 2, "profile": profile or (vocab.profile_for_kernel(platform.release()) if live else "linux")}
    if live:
        head["stack"] = {"name": "linux", "version": platform.release(), "protocol": "tcp"}
        if not netns:   # a fresh namespace has the kernel's defaults, not this one's settings
            head["sysctl"] = {name: value for name in SYSCTLS if (value := sysctl.read(name)) is not None}
    head["meta"] = meta
    return head


def trace_log(lines: list[str], meta: dict, live: bool = False, coverage: bool = False,
              kernel: list | None = None, profile: str | None = None, netns: bool = False,
              limits=None) -> Traced:
    """A log's lines, converted and checked under ``profile`` (by default the one
    of this kernel for a live run, else ``linux``; ``kernel``: the kernel's TCP
    state changes meanwhile, for ``x-netstat`` rows)."""
    try:
        head, events, summary = trace_parts(lines, _header(live, meta, profile, netns), kernel)
    except LogError as e:
        raise TraceFailed(e.message, e.line) from None
    text = render(head, events)
    try:
        header, verdict = check_text(text, coverage, limits)
        moved = 0
        while verdict.verdict == "diverges" and moved < MAX_MOVES:
            better = _reordered(head, events, verdict, coverage, limits)
            if better is None:
                break
            events, text, header, verdict = better
            moved += 1
    except TraceError as e:   # a call the conversion wrote wrongly: say which, never a traceback
        raise TraceFailed(f"the trace made of the log is not valid at its line {e.line}: {e.message}") from None
    if moved:
        summary.reordered = moved
        head["meta"]["strace"]["reordered"] = moved
        text = render(head, events, moved=True)
    return Traced(text, summary, header, verdict, dict(meta))


# Most overlapping calls put in another order to explain one trace, and most
# orders tried for each divergence (every try is a whole check).
MAX_MOVES = 16
MAX_TRIES = 8


def _reordered(head, events, verdict, coverage, limits):
    """The first order of :func:`overlapping_moves` (at the divergent line)
    that the model explains further, checked; None when none does."""
    for tries, order in enumerate(overlapping_moves(events, verdict.line)):
        if tries >= MAX_TRIES:
            return None
        try:
            text = render(head, order, moved=True)
            header, got = check_text(text, coverage, limits)
        except (Infeasible, TraceError):   # no times fit this order, or a name came before its dup
            continue
        if got.verdict == "conforms" or got.verdict == "diverges" and got.line > verdict.line:
            return order, text, header, got
    return None


def read_logs(paths: list[str]) -> list[str]:
    """The lines of one log, or of several merged by time."""
    logs = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                logs.append(f.read().splitlines())
        except OSError as e:
            raise TraceFailed(f"cannot read {path!r}: {e.strerror or e}") from None
    if len(logs) == 1:
        return logs[0]
    try:
        return merge(logs)
    except LogError as e:
        raise TraceFailed(e.message, e.line) from None


def _recorded(record, keep_log: str | None) -> tuple[list[str], tracer.Traced]:
    """Run ``record(log_path)`` into a temporary log (or ``keep_log``, a new file)."""
    with tempfile.TemporaryDirectory(prefix="conform-trace-") as tmp:
        log = keep_log or os.path.join(tmp, "strace.log")
        if keep_log and os.path.exists(keep_log):
            raise TraceFailed(f"refusing to overwrite {keep_log}")
        try:
            done = record(log)
        except tracer.TracerMissing as e:
            raise TraceFailed(str(e)) from None
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                return f.read().splitlines(), done
        except OSError as e:
            raise TraceFailed(f"strace wrote no log ({e.strerror or e}); is ptrace allowed here?") from None


def trace_command(argv: list[str], seconds: float | None = None, keep_log: str | None = None,
                  coverage: bool = False, netns: bool = False, kernel: bool = False,
                  profile: str | None = None, limits=None) -> Traced:
    """Run ``argv`` under strace (in a fresh network namespace with ``netns``)
    and check what its TCP sockets did.  With ``kernel``, the kernel's TCP state
    changes are watched meanwhile (root, tracefs) and every call is followed by
    an ``x-netstat`` event of the program's sockets as the kernel had them."""
    watch = tracepoint.Watch() if kernel else None

    def record(log):
        try:
            if watch is None:
                return tracer.run(argv, log, seconds, netns)
            with watch:
                return tracer.run(argv, log, seconds, netns)
        except (OSError, subprocess.SubprocessError) as e:
            raise TraceFailed(f"cannot start strace: {e}") from None
    lines, done = _recorded(record, keep_log)
    if not any(line.strip() for line in lines):
        raise TraceFailed(f"strace recorded nothing (it exited with {done.status}; is {argv[0]!r} a program "
                          f"that can run here?)")
    meta = {"program": argv, "tracer": tracer.strace_version(), "status": done.status,
            "seconds": round(done.seconds, 3), "timed_out": done.timed_out}
    states = None
    if watch is not None:
        meta["kernel_states"] = watch.off or "sock:inet_sock_set_state"
        states = watch.changes() if watch.off is None else None
    return trace_log(lines, meta, live=True, coverage=coverage, kernel=states, profile=profile, netns=netns,
                     limits=limits)


def trace_pid(pid: int, seconds: float | None = None, keep_log: str | None = None,
              coverage: bool = False, profile: str | None = None, limits=None) -> Traced:
    """Attach to process ``pid`` and check what its TCP sockets do from then on."""
    if not os.path.exists(f"/proc/{pid}"):
        raise TraceFailed(f"no process {pid}")
    lines, done = _recorded(lambda log: tracer.attach(pid, log, seconds), keep_log)
    meta = {"attached": pid, "tracer": tracer.strace_version(), "seconds": round(done.seconds, 3)}
    return trace_log(lines, meta, live=True, coverage=coverage, profile=profile, limits=limits)
