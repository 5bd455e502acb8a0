"""The scenarios' registry: each scenario's name, its function (in the order
they are registered: the order ``conform run`` runs them) and the rules it pins."""

from __future__ import annotations

from typing import Any, Callable

from tcpconform.live.recorder import Recorder

__all__ = ["Scenario", "SCENARIOS", "PINS", "VERSIONS", "scenario", "describe", "record"]

Scenario = Callable[[Recorder], None]
SCENARIOS: dict[str, Scenario] = {}
# scenario name -> the rule ids (case ids of tcpconform.model.rules) it pins: the
# run that explains its trace must use each of them (tests/live/test_scenarios.py),
# so a wrong rule there makes the recorded trace diverge.
PINS: dict[str, tuple[str, ...]] = {}
# scenario name -> the version of the trace format it is recorded in (2: tcpconform.live.recorder_v2)
VERSIONS: dict[str, int] = {}


def scenario(name: str, pins: tuple[str, ...] = (), version: int = 2) -> Callable[[Scenario], Scenario]:
    """Register a scenario; ``pins``: the rules its trace is evidence for;
    ``version``: the trace format it is recorded in."""
    def register(fn: Scenario) -> Scenario:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} registered twice")
        if not (fn.__doc__ or "").strip():
            raise ValueError(f"scenario {name!r} needs a docstring")
        SCENARIOS[name] = fn
        PINS[name] = tuple(pins)
        VERSIONS[name] = version
        return fn
    return register


def describe(name: str) -> str:
    """The first line of a scenario's docstring."""
    return (SCENARIOS[name].__doc__ or "").strip().splitlines()[0]


def record(name: str, **options: Any) -> Recorder:
    """Run scenario ``name`` in a fresh recorder (``options`` go to :class:`Recorder`, e.g.
    ``netstat=True``); every descriptor is closed afterwards."""
    fn = SCENARIOS[name]
    make = Recorder
    if VERSIONS.get(name, 1) == 2:
        from tcpconform.live.recorder_v2 import RecorderV2 as make
    with make(scenario=name, **options) as rec:
        fn(rec)
    return rec
