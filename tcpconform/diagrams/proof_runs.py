"""The runs ``conform prove`` finds (a witness's run, a counterexample), as
sequence charts.

A run is drawn from the trace that ``conform prove --out DIR`` writes for it
(``NAME.jsonl``, :func:`tcpconform.properties.prove.write_runs`; the same
function, :func:`tcpconform.properties.prove.trace_of`, writes both), so
every row is numbered with that file's line: a call with its real result
(``send(5) → 5``, ``recv(3) → 3``; ``→ 0 (end of stream)`` only for a recv
that read the end), a state when it changed.  The segments come from the
run itself: each step's change of the channels says what it sent and what
it delivered, drawn as an arrow from the row of the step that sent it to the
row of the step it reached (a step no call or state of the trace shows is
drawn on the row of its ``x-netstat`` line; a connection not accepted yet,
which has no name in the trace, on its listener's lane).  A counterexample's last step, where the
property fails, is marked in red.
"""

from __future__ import annotations

import dataclasses
import io
import re

from tcpconform.check.trace import read_trace
from tcpconform.diagrams.dot import find_dot, render
from tcpconform.diagrams.sequence import legend_rows, seg_text, seq_dot
from tcpconform.diagrams.traces import TRACE_LEGEND, TraceDrawing

_CELL = re.compile(r"^(\w+)\.v(\d+)$")

RUN_LEGEND = [row for row in TRACE_LEGEND if row[0] not in ("seg", "error")] + legend_rows([
    ("seg", "───", "a segment the model sent, from the step that sent it to the step it reached"),
    ("error", "✗", "the step after which the property fails (later events in grey)"),
])


def run_name(r: dict) -> tuple[str, str, str]:
    """(name, kind, stem of the trace ``--out`` writes) of a result of ``conform prove``."""
    if r.get("witness"):
        return r["witness"], "witness", r["witness"]
    return r["property"], "counterexample", f"{r['property']}-counterexample"


def _channels(state: dict) -> dict[str, list[str]]:
    """Each channel's segments, head first (``ch.v0``/``ch.k0`` ...: cell used, its kind)."""
    from tcpconform.properties.runs import value_name
    cells: dict[str, int] = {}
    for key in state:
        m = _CELL.match(key)
        if m:
            cells[m.group(1)] = max(cells.get(m.group(1), 0), int(m.group(2)) + 1)
    return {ch: [value_name(state[f"{ch}.k{i}"]) for i in range(n) if state[f"{ch}.v{i}"]]
            for ch, n in sorted(cells.items())}


def _change(before: list[str], after: list[str]) -> tuple[bool, list[str]]:
    """(a segment left the head, the segments pushed at the tail) of one channel in one step."""
    if after[:len(before)] == before:
        return False, after[len(before):]
    if before and after[:len(before) - 1] == before[1:]:
        return True, after[len(before) - 1:]
    raise ValueError(f"a channel went from {before} to {after} in one step")


def _reader(ch: str, state: dict, pair: bool) -> str:
    from tcpconform.properties import runs
    if pair:
        from tcpconform.properties.pair import IN
        return next(s for s, c in IN.items() if c == ch)
    return runs.reader(ch, state)


def run_chart(r: dict) -> str | None:
    """DOT text of the run of one result of ``conform prove`` (None: it has no run)."""
    from tcpconform.properties import prove, runs   # z3 is slow to import; only proofs' runs need it
    run = r.get("_run")
    if run is None or not run.steps:
        return None
    name, kind, stem = run_name(r)
    text = prove.trace_of(run)
    events = list(read_trace(io.BytesIO(text.encode()))[1])
    # the last line of each step's events: the trace of the run cut after it
    ends = [1] + [len(prove.trace_of(dataclasses.replace(run, steps=run.steps[:k])).splitlines())
                  for k in range(1, len(run) + 1)]
    pair = "pair.act" in run.steps[0]["vars"]
    names = [{}] + ([{x["slot"]: x["sock"] for x in m.rows} for m in runs.walk(run)] if not pair else
                    [{s: s for s in ("P", "Q")}] * len(run))
    last_drawn = max((e.line for e in events if ends[-2] < e.line and hasattr(e, "sock")), default=None)
    mark = (last_drawn or ends[-1], "✗ fails") if kind == "counterexample" else None
    drawing = TraceDrawing(mark)

    def lane(slot: str, k: int) -> str:
        got = names[k].get(slot) or (names[k].get("L") if slot.startswith("A") else None)
        return got or drawing.lane(slot, f"{slot}\n(no call yet)")

    inflight: dict[str, list[tuple[str, int, str, int | None]]] = {}   # channel -> (lane, row, kind, bytes)
    for k, st in enumerate(run.steps, start=1):
        v = {n: runs.value_name(x) for n, x in st["vars"].items()}
        actor, trigger = v.get("step.act") or v["pair.act"], v["trigger"]
        drawing.break_rows()
        rows = [row for e in events if ends[k - 1] < e.line <= ends[k]
                for row in [drawing.event(e)] if row is not None]
        before, after = _channels(run.state(k - 1)), _channels(st["state"])
        moves = {ch: _change(before[ch], after[ch]) for ch in after}
        if any(popped or pushed for popped, pushed in moves.values()) and not rows:
            line = ends[k] if ends[k] > ends[k - 1] else None
            rows.append(drawing.step(line, f"step {k} (no line)"))
        for ch, (popped, pushed) in moves.items():
            if popped and inflight.get(ch):
                src, row, seg, n = inflight[ch].pop(0)
                lost = actor == "NET"
                to = lane(_reader(ch, run.state(k - 1), pair) if lost else actor, k)
                count = v.get("par.segn") if seg == "DATA" and v.get("par.segn") else n
                drawing.segment(src, row, to, rows[0], seg_text(seg, count) + (" ✗ lost" if lost else ""))
        for ch, (_popped, pushed) in moves.items():
            for seg in pushed:
                n = v.get("par.n") if seg == "DATA" and trigger == "call:send" else None
                inflight.setdefault(ch, []).append((lane(actor, k), rows[-1], seg, n))
    if any(inflight.values()):
        end = drawing.step(None, "end of the run")
        for ch, segs in inflight.items():
            for src, row, seg, n in segs:
                drawing.segment(src, row, lane(_reader(ch, run.steps[-1]["state"], pair), len(run)), end,
                                seg_text(seg, n) + " (in flight)")
    title = (f"{name}: {kind}" + (f" under mutant {r['mutant']}" if r.get("mutant") else "")
             + f"\nnumbered with the lines of {stem}.jsonl (conform prove --out)")
    legend = RUN_LEGEND + ([] if pair else [("", "#888888", "line N", "a step no call or state shows: "
                                               "the line of its x-netstat event")])
    return seq_dot(drawing.chart(title, legend), "run")


def draw_runs(results: list[dict], out: str) -> list[str]:
    """Draw every run a proof found (a counterexample, a witness's run) as a
    sequence chart in ``out``; the paths written."""
    written = []
    for r in results:
        dot = run_chart(r)
        if dot is None:
            continue
        name, kind, _stem = run_name(r)
        written += [str(p) for p in render(dot, out, f"{name}-{kind}", formats=("svg",), dot=find_dot())]
    return written
