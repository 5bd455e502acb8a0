"""Scenarios: short, fixed programs of socket calls that :mod:`tcpconform.live.run` records.

Each scenario is a function taking a :class:`~tcpconform.live.recorder.Recorder`
and making its calls on loopback; its docstring's first line says what it
shows. ``SCENARIOS`` maps each scenario's name to its function, in the order
in which ``conform run`` runs them.  They live in the modules of this
package by theme (:mod:`.lifecycles`, :mod:`.refused`, :mod:`.states`,
:mod:`.closing`, :mod:`.held`), with the helpers they share in :mod:`.helpers`.

Rules every scenario keeps:

* calls are fixed, or follow from what the kernel returned, never from time;
* a blocking call is made only where it cannot block for long (on loopback,
  data and segments sent are processed at the peer before ``send`` returns,
  give or take a softirq); the recorder's watchdog turns a hang into
  :class:`~tcpconform.live.recorder.ScenarioTimeout`;
* ports are chosen by the kernel (bind to ``127.0.0.1:0``);
* states are observed after every call (the recorder's ``auto_observe``),
  and :meth:`Recorder.settle` waits, bounded, where a peer's segment or a
  delayed ACK (about 40 ms on loopback) decides the next state.

Expected outcomes on Linux are written next to the calls as comments; they
are not asserted here (the checker judges the trace against the model).
"""

from __future__ import annotations

from tcpconform.live.scenarios.helpers import ANY
from tcpconform.live.scenarios.registry import PINS, SCENARIOS, Scenario, describe, record, scenario
# the scenarios, registered in the order conform run runs them
from tcpconform.live.scenarios import lifecycles, refused, states, closing, held, v2calls  # noqa: F401

__all__ = ["SCENARIOS", "PINS", "ANY", "Scenario", "describe", "record", "scenario"]
