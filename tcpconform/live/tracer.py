"""Running a program (or attaching to one) under strace, to record the log
that :mod:`tcpconform.strace.convert` reads.

The flags, also documented for logs recorded elsewhere (``conform trace
--from-strace``), are :data:`STRACE_FLAGS`: every thread and child (``-f``),
times as seconds since the epoch with each call's duration (``-ttt -T``),
descriptors decoded with their addresses (``-yy``), process names (``-Y``),
strings and arrays shown up to 256 elements (``-s 256``, so that poll and
epoll results are whole), and only the calls that touch descriptors,
the network or processes (``-e trace=%desc,%network,%process,close_range``:
strace 6.1's ``%desc`` leaves ``close_range`` out).

The traced program runs in its own process group; when the run is
interrupted or its time runs out, the whole group is killed, so nothing it
started is left behind.  With ``netns``, strace and the program run in a
fresh network namespace whose only interface is ``lo`` (root): their ports
meet nothing of the host's, and the namespace goes when they do.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from tcpconform.live import netns as _netns

STRACE_FLAGS = ("-f", "-ttt", "-T", "-yy", "-Y", "-s", "256", "-e", "trace=%desc,%network,%process,close_range")


class TracerMissing(Exception):
    """strace is not installed."""


@dataclass
class Traced:
    """A finished tracing run: the log, the program's exit status, how long it took."""
    log: str
    status: int | None
    seconds: float
    timed_out: bool = False


def strace_path() -> str:
    path = shutil.which("strace")
    if path is None:
        raise TracerMissing("strace is not installed (Debian: apt-get install strace)")
    return path


def strace_version() -> str:
    out = subprocess.run([strace_path(), "-V"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else "strace"


def _finish(proc: subprocess.Popen, seconds: float | None) -> tuple[int | None, bool]:
    """Wait for the strace process (bounded by ``seconds``); kill its group when it runs over
    or the wait is interrupted."""
    try:
        return proc.wait(timeout=seconds), False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return proc.returncode, True
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            continue


def _fresh_namespace() -> None:
    """In the child, before strace starts: a network namespace of its own, ``lo`` up."""
    code = _netns.unshare(_netns.CLONE_NEWNET)
    if code:
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)} (a fresh network namespace needs root)")
    _netns.lo_up()


def run(argv: list[str], log: str, seconds: float | None = None, netns: bool = False) -> Traced:
    """Run ``argv`` under strace, writing the log to ``log`` (in a fresh network namespace with ``netns``)."""
    cmd = [strace_path(), *STRACE_FLAGS, "-o", log, "--", *argv]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_fresh_namespace if netns else None)
    status, over = _finish(proc, seconds)
    return Traced(log, status, time.monotonic() - start, over)


def attach(pid: int, log: str, seconds: float | None = None) -> Traced:
    """Attach to a running process (and its threads and later children) until it
    exits, ``seconds`` pass, or the run is interrupted (then strace detaches)."""
    cmd = [strace_path(), *STRACE_FLAGS, "-o", log, "-p", str(pid)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        status = proc.wait(timeout=seconds)
        over = False
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.send_signal(signal.SIGINT)   # strace detaches; the process goes on
        try:
            status = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        over = True
    return Traced(log, status, time.monotonic() - start, over)
