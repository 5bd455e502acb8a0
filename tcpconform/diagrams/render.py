"""Diagrams drawn from the model: DOT text, rendered by Graphviz when present.

Everything drawn here is derived: the state diagram and the call table from
:mod:`tcpconform.model.graph` (the rule table read through the semantics), the sequence
charts from runs of :mod:`tcpconform.model.system`, the trace charts from the trace's
own events, the charts of proofs' runs from the trace ``conform prove --out``
writes and the run's own steps.  The DOT text is written by the modules of
this package (no Graphviz binding is needed); the ``dot`` program, when it
is on ``PATH``, turns it into SVG and PNG.  Without it the DOT files are
still written and a message says what to install.

``conform diagram [--out DIR]`` writes, into ``docs/diagrams/`` by default:

* ``tcp-states``   — the states and transitions, in the manner of RFC 9293 Fig. 5
  (:mod:`tcpconform.diagrams.states`; the figure's arcs: :mod:`tcpconform.diagrams.figure5`);
* ``socket-calls`` — per state, what each call returns (the nine of version 1
  and those version 2 adds), and ``socket-readiness`` — what poll() reports
  (:mod:`tcpconform.diagrams.tables`);
* ``seq-handshake``, ``seq-accept-queue``, ``seq-data-partial-reads``,
  ``seq-close`` — sequence charts of scripted model runs
  (:mod:`tcpconform.diagrams.scripted`, drawn by :mod:`tcpconform.diagrams.sequence`).

Each as ``.dot``, and ``.svg`` and ``.png`` when ``dot`` is found.
:func:`sequence_from_trace` (:mod:`tcpconform.diagrams.traces`) and
:func:`coverage_overlay` (:mod:`tcpconform.diagrams.coverage`) draw a trace and
the rules a check exercised; :func:`draw_runs`
(:mod:`tcpconform.diagrams.proof_runs`) the runs a proof found.  This module
gathers what callers use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

from tcpconform.diagrams.coverage import coverage_overlay, divergent_rules
from tcpconform.diagrams.dot import (C_ABORT, C_ARC, C_DEPART, C_EXTRA, C_MAIN, C_OK, C_RED, C_RFC, FONT, FORMATS,
                                     HTML, INSTALL_HINT, RenderError, attrs, find_dot, h, legend_html, q, render)
from tcpconform.diagrams.proof_runs import draw_runs, run_chart
from tcpconform.diagrams.scripted import SEQ_LEGEND, SEQUENCES, ModelRun
from tcpconform.diagrams.sequence import Arrow, Box, SeqChart, seq_dot
from tcpconform.diagrams.states import LEGEND, STYLE, DotEdge, dot_edges, state_dot, states_diagram
from tcpconform.diagrams.tables import CALL_OPS, CELL_COLOURS, call_cells, calls_dot, readiness_dot
from tcpconform.diagrams.traces import MAX_TRACE_ROWS, sequence_from_trace
from tcpconform.model import system

__all__ = [
    "C_ABORT", "C_ARC", "C_DEPART", "C_EXTRA", "C_MAIN", "C_OK", "C_RED", "C_RFC", "FONT", "FORMATS", "HTML",
    "INSTALL_HINT", "RenderError", "attrs", "find_dot", "h", "legend_html", "q", "render",
    "coverage_overlay", "divergent_rules", "draw_runs", "run_chart", "SEQ_LEGEND", "SEQUENCES", "ModelRun",
    "Arrow", "Box", "SeqChart", "seq_dot", "LEGEND", "STYLE", "DotEdge", "dot_edges", "state_dot",
    "states_diagram", "CALL_OPS", "CELL_COLOURS", "call_cells", "calls_dot", "readiness_dot",
    "MAX_TRACE_ROWS", "sequence_from_trace", "system", "DIAGRAMS", "write_diagrams",
]

DIAGRAMS: dict[str, Callable[[], str]] = {
    "tcp-states": states_diagram,
    "socket-calls": calls_dot,
    "socket-readiness": readiness_dot,
    **{name: (lambda f=f, name=name: seq_dot(f(), name.replace("-", "_"))) for name, f in SEQUENCES.items()},
}


def write_diagrams(out_dir: Path | str = "docs/diagrams", names: Iterable[str] | None = None,
                   formats: Sequence[str] = FORMATS) -> tuple[list[Path], str | None]:
    """Write every diagram (DOT always, rendered when ``dot`` is found).
    Returns the files written and, when ``dot`` is missing, the message to show."""
    dot = find_dot()
    files: list[Path] = []
    for name in names or DIAGRAMS:
        files += render(DIAGRAMS[name](), out_dir, name, formats, dot)
    note = None
    if dot is None:
        note = (f"Graphviz's 'dot' program was not found on PATH, so only the DOT files were written "
                f"({len(files)} in {out_dir}); {INSTALL_HINT}")
    return files, note
