"""Per-namespace TCP settings, inside a run's own network namespace only.

Some rules fire only when a timer runs out: a SYN retried ``tcp_syn_retries``
times (about 127 s by default), an orphaned FIN_WAIT_2 kept
``tcp_fin_timeout`` seconds (60).  These settings belong to the network
namespace, so a scenario in the run's own namespace may shorten them without
touching the machine's; this module refuses to write them anywhere else.
Each change is recorded as an ``x-sysctl`` event (a checker ignores it).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tcpconform.live.netfilter import ScenarioSkipped, private_netns

ROOT = Path("/proc/sys/net/ipv4")
KNOWN = ("tcp_syn_retries", "tcp_synack_retries", "tcp_fin_timeout")
"""The settings a scenario may change (all per network namespace)."""


@contextmanager
def setting(rec, name: str, value: int) -> Iterator[None]:
    """Set ``net.ipv4.<name>`` to ``value`` in this private namespace while the
    block runs (the old value comes back after it); record it as ``x-sysctl``."""
    if name not in KNOWN:
        raise ValueError(f"unknown setting {name!r} (known: {', '.join(KNOWN)})")
    if not private_netns():
        raise ScenarioSkipped("needs a network namespace of its own (run as root, isolation netns)")
    path = ROOT / name
    old = path.read_text().strip()
    path.write_text(f"{value}\n")
    rec.events.append({"ev": "x-sysctl", "name": f"net.ipv4.{name}", "value": value})
    try:
        yield
    finally:
        path.write_text(f"{old}\n")
        rec.events.append({"ev": "x-sysctl", "name": f"net.ipv4.{name}", "value": int(old)})


def read(name: str) -> int | list[int] | None:
    """The value of a setting by its sysctl name (``net.ipv4.tcp_fin_timeout``), or None if unreadable."""
    path = Path("/proc/sys") / name.replace(".", "/")
    try:
        words = path.read_text().split()
    except OSError:
        return None
    try:
        nums = [int(w) for w in words]
    except ValueError:
        return None
    return nums[0] if len(nums) == 1 else nums
