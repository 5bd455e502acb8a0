"""How far one check may go before it says "undecided".

A trace the model can explain only through very many configurations (many
connections in flight at once, long runs of unobserved steps) may need more
time or memory than the user gives.  The checker then stops and says so: the
verdict ``undecided`` (exit 3, trace-format.md "Verdict added"), with the
line it reached and the bound it met; never ``diverges``, which would blame
the kernel or the model for what is the search's limit.

The bounds (:class:`Bounds`): ``frontier``, the configurations that explain
the trace so far in the search the check does (default 20,000; a memoised
engine's stored transitions need no search, and are not bounded again); ``seconds``, the wall time of the check
(default: none); ``memory``, this process's resident memory in MiB (default:
4,096 or half the machine's memory, whichever is smaller).  The closure of
one observation has its own fixed bound
(:data:`tcpconform.model.system.CLOSURE_LIMIT`).  Time and memory are looked
at before every event and every :data:`~tcpconform.model.system.WATCH_EVERY`
configurations the closures make (the memory at most every
:data:`MEMORY_EVERY` seconds), and the check stops at :data:`HEADROOM` of
its memory bound, so it goes past neither bound by more than that much work;
a ``MemoryError`` all the same is undecided too.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import resource
import time
from dataclasses import dataclass
from typing import Iterator

from tcpconform.model import system
from tcpconform.model.system import SearchBound

__all__ = ["Bounds", "DEFAULT", "applied", "frontier", "rss_mib", "default_memory"]


def default_memory() -> int:
    """4,096 MiB or half the machine's memory, whichever is smaller."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        return 4096
    return max(256, min(4096, total // 2))


@dataclass(frozen=True)
class Bounds:
    frontier: int = 20_000
    seconds: float | None = None
    memory: int | None = None  # MiB; None: default_memory()

    def memory_mib(self) -> int:
        return self.memory if self.memory is not None else default_memory()


DEFAULT = Bounds()
MEMORY_EVERY = 0.02
"""Seconds between two looks at the memory (the clock is looked at every time)."""
HEADROOM = 0.95
"""The check stops once its memory passes this share of the bound: what one
watch interval may still allocate stays under the bound."""
_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("tcpconform_bounds", default=DEFAULT)


def frontier() -> int:
    """The frontier bound of the check under way."""
    return _ACTIVE.get().frontier


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux: /proc/self/statm;
    elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Watch:
    """The time and memory bounds of one check, looked at on demand."""

    def __init__(self, b: Bounds) -> None:
        self.bounds = b
        self.deadline = time.monotonic() + b.seconds if b.seconds is not None else None
        self.memory = b.memory_mib()
        self.looked = 0.0  # when the memory was last looked at

    def __call__(self) -> None:
        """The clock every time, the memory every :data:`MEMORY_EVERY` seconds."""
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            raise SearchBound("seconds", self.bounds.seconds,
                              f"the check took more than {self.bounds.seconds:g} s")
        if now - self.looked < MEMORY_EVERY:
            return
        self.looked = now
        used = rss_mib()
        if used > self.memory * HEADROOM:
            raise SearchBound("memory", self.memory,
                              f"the check's memory reached {used:.0f} MiB, within "
                              f"{100 - HEADROOM * 100:.0f}% of its bound of {self.memory} MiB")


@contextlib.contextmanager
def applied(b: Bounds) -> Iterator[Watch]:
    """While the block runs, checks are bounded by ``b``; the watch to call
    between events."""
    watch = Watch(b)
    active, watching = _ACTIVE.set(b), system.WATCH.set(watch)
    try:
        yield watch
    finally:
        system.WATCH.reset(watching)
        _ACTIVE.reset(active)
