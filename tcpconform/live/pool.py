"""Worker processes for live runs, each in network namespaces of its own.

:func:`run_workers` forks one worker process per job (named scenarios and
random campaigns both run this way).  Each worker moves into a network
namespace of its own (:mod:`tcpconform.live.netns`), says where it is
(:class:`Ready`), then runs the job; :meth:`Worker.fresh` moves it into yet
another fresh namespace, which a job calls before every scenario or
sequence so that they never see each other's ports or TIME_WAIT
connections.  A worker sends what it found to the coordinating process with
:meth:`Worker.send` (any picklable object).

Workers die with the coordinating process (``PR_SET_PDEATHSIG``), ignore
SIGINT (the coordinating process decides), and are stopped by it on
SIGINT/SIGTERM, which then raises :class:`Interrupted`; nothing they made
(namespaces, sockets, connections) outlives them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from tcpconform.live import netns
from tcpconform.live.recorder import ScenarioError

__all__ = ["Interrupted", "Ready", "Worker", "PoolReport", "run_workers", "isolation_of", "where_text",
           "network_line"]

ISOLATIONS = ("auto", "netns", "none")
"""What a run may ask for: a namespace when possible, a namespace or nothing, the host's loopback."""


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the coordinating process; every worker has been stopped.

    ``progress`` says how far the run had come (empty when there is nothing to say)."""

    def __init__(self, signum: int, progress: str = "") -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.progress = progress


@dataclass(frozen=True)
class Ready:
    """A worker's first word: its process, how it is isolated, its network namespace."""

    pid: int
    isolated: netns.Isolation  # how the worker is isolated
    netns: str | None


@dataclass(frozen=True)
class _Done:
    pass


@dataclass(frozen=True)
class _Failed:
    reason: str


@dataclass
class PoolReport:
    """What running the workers met besides their messages."""

    problems: list[str] = field(default_factory=list)  # a worker that died or failed
    ready: list[Ready] = field(default_factory=list)   # in the order the workers said so


def isolation_of(ready: Iterable[Ready]) -> netns.Isolation:
    """How a run was isolated: the first worker without a namespace of its own, if any, else the first."""
    seen = [r.isolated for r in ready]
    if not seen:
        return netns.Isolation("none", "no worker ran")
    return next((i for i in seen if i.mode != "netns"), seen[0])


class Worker:
    """What a job sees of the worker process it runs in."""

    def __init__(self, index: int, isolated: netns.Isolation, send: Callable[[Any], None]) -> None:
        self.index = index
        self.isolated = isolated  # how this worker is isolated
        self.send = send

    def fresh(self) -> None:
        """Move into a fresh network namespace (nothing to do without isolation)."""
        if self.isolated.mode != "netns":
            return
        again = netns.enter_fresh()
        if again.mode != "netns":
            raise ScenarioError(f"no fresh network namespace: {again.reason}")


def _isolate(requested: str) -> netns.Isolation:
    """Enter this worker's own namespace unless ``requested`` is ``none``; say how."""
    if requested == "none":
        return netns.Isolation("none", "disabled by --isolation none")
    return netns.enter_fresh()


def _worker_main(conn: Any, index: int, job: Any, target: Callable[[Any, Worker], None],
                 requested: str) -> None:
    """Body of a worker process: isolate, tell the parent, run ``target``, report, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    netns.die_with_parent()
    try:
        iso = _isolate(requested)
        conn.send(Ready(os.getpid(), iso, netns.netns_id()))
        if requested == "netns" and iso.mode != "netns":
            conn.send(_Failed(f"--isolation netns: {iso.reason}"))
            return
        target(job, Worker(index, iso, conn.send))
        conn.send(_Done())
    except BrokenPipeError:
        pass
    except BaseException as e:  # report, never a traceback on the terminal
        try:
            conn.send(_Failed(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        except OSError:
            pass
    finally:
        conn.close()


def run_workers(jobs: Sequence[Any], target: Callable[[Any, Worker], None],
                handle: Callable[[int, Any], None], isolation: str = "auto") -> PoolReport:
    """Run ``target(job, worker)`` in one forked worker per job; pass every message a
    worker sends to ``handle(index, message)``.  ``isolation`` is one of
    :data:`ISOLATIONS`.  On SIGINT/SIGTERM (while this runs) every worker is
    stopped and reaped, then :class:`Interrupted` is raised."""
    ctx = multiprocessing.get_context("fork")
    procs: dict[Any, tuple[int, Any]] = {}
    finished: set[int] = set()
    report = PoolReport()
    in_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main:
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if in_main:
            def interrupt(signum: int, frame: object) -> None:
                raise Interrupted(signum)
            for s in previous:
                signal.signal(s, interrupt)
        for index, job in enumerate(jobs):
            recv_end, send_end = ctx.Pipe(duplex=False)
            # block the signals across fork so a worker never runs the parent's handler
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                p = ctx.Process(target=_worker_main, args=(send_end, index, job, target, isolation),
                                name=f"conform-worker-{index}", daemon=True)
                p.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            send_end.close()
            procs[recv_end] = (index, p)
        live = dict(procs)
        while live:
            for conn in multiprocessing.connection.wait(list(live)):
                index, p = live[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    del live[conn]
                    p.join()
                    if index not in finished:
                        report.problems.append(f"worker {index} ended without finishing (exit code {p.exitcode})")
                    continue
                if isinstance(msg, Ready):
                    report.ready.append(msg)
                elif isinstance(msg, _Done):
                    finished.add(index)
                elif isinstance(msg, _Failed):
                    finished.add(index)
                    report.problems.append(f"worker {index}: {msg.reason}")
                else:
                    handle(index, msg)
    finally:
        if in_main:  # a second Ctrl-C must not cut the clean-up short
            for s in previous:
                signal.signal(s, signal.SIG_IGN)
        _stop(p for _, p in procs.values())
        for conn in procs:
            conn.close()
        if in_main:
            for s, h in previous.items():
                signal.signal(s, h)
    return report


def _stop(processes: Iterable[Any]) -> None:
    """SIGTERM every live worker, then SIGKILL any still alive after a second; reap them all."""
    procs = list(processes)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 1.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()


def where_text(iso: netns.Isolation) -> str:
    """The plain statement of where ``conform run`` sends packets."""
    lines = [
        "conform run never sends anything to an address outside loopback or outside its own "
        "network namespaces.",
        f"  addresses: {netns.WHERE}; a scenario asking for any other address is stopped "
        "before the call is made.",
    ]
    if iso.mode == "netns":
        lines.append(f"  isolation: netns ({iso.reason}): every worker process runs in a network "
                     "namespace of its own whose only interface is lo, and enters a fresh one for every "
                     "scenario and every random sequence; such a namespace has no route anywhere, and it "
                     "and everything made in it disappear when the run ends.")
    else:
        lines.append(f"  isolation: none ({iso.reason}): the run uses this host's loopback "
                     "(127.0.0.1 never leaves the machine), and TIME_WAIT connections it made "
                     "stay listed by `ss -tan` for a minute.")
    return "\n".join(lines)


def network_line(iso: netns.Isolation) -> str:
    """The last line of a run's report: where its packets went."""
    if iso.mode == "netns":
        return (f"network: 127.0.0.1 only; isolation netns: a fresh network namespace with only lo "
                f"for every scenario or sequence ({iso.reason})")
    return f"network: 127.0.0.1 only, on this host's loopback; isolation none: {iso.reason}"
