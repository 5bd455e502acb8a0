"""``conform run``: record scenarios on this machine's TCP stack and check each trace.

``conform run [SCENARIO...] [--out DIR] [--json]`` records the named
scenarios (all when none is named) with :class:`~conformance.recorder.Recorder`
over loopback, writes each trace to ``DIR/SCENARIO.jsonl`` when ``--out`` is
given (an existing file is never overwritten), and checks it with
:func:`conformance.check.check_trace`. It prints one line per scenario and a
summary, or one JSON object with ``--json``.

Exit status: 0 every trace conforms; 1 some trace diverges; 2 usage or
environment error (unknown scenario, output file exists, a scenario could not
run, the checker is missing, or the recorder wrote a trace the reader
refuses).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.recorder import ScenarioError
from conformance.scenarios import SCENARIOS, record
from conformance.trace import TraceError, read_trace

__all__ = ["run_command", "Outcome", "check_text"]


@dataclass
class Outcome:
    """What happened to one scenario."""

    name: str
    verdict: str  # conforms | diverges | invalid | error | unchecked
    events: int = 0  # events in the trace (header not counted)
    line: int | None = None
    reason: str = ""
    allowed: list[str] = field(default_factory=list)
    event: str | None = None  # the text of the line named by ``line``
    trace: str | None = None  # where the trace was written


def _load_checker() -> Any:
    """``conformance.check.check_trace``, or None if that module does not exist yet."""
    try:
        module = importlib.import_module("conformance.check")
    except ModuleNotFoundError as e:
        if e.name in ("conformance.check", "conformance"):
            return None
        raise
    return getattr(module, "check_trace", None)


def check_text(text: str, check_trace: Any) -> Outcome:
    """Parse a trace's JSONL text and check it; the outcome carries no name."""
    lines = text.splitlines()
    try:
        header, events = read_trace(io.BytesIO(text.encode()))
        verdict = check_trace(header, events)
    except TraceError as e:
        return Outcome("", "invalid", len(lines) - 1, e.line, e.message,
                       event=_line(lines, e.line))
    kind = getattr(verdict, "verdict", None)
    line = getattr(verdict, "line", None)
    return Outcome(
        "", str(kind), len(lines) - 1,
        line, str(getattr(verdict, "reason", "") or ""),
        list(getattr(verdict, "allowed", None) or []),
        event=_line(lines, line) if kind != "conforms" else None,
    )


def _line(lines: list[str], number: int | None) -> str | None:
    if number is None or not 1 <= number <= len(lines):
        return None
    return lines[number - 1]


def run_command(args: argparse.Namespace) -> int:
    """Entry point of ``conform run``; returns the exit status."""
    if getattr(args, "random", None) is not None or getattr(args, "seed", None) is not None:
        print("conform run: --random/--seed are not implemented yet", file=sys.stderr)
        return 2
    if getattr(args, "explain", False):
        print("conform run: --explain is not implemented yet", file=sys.stderr)
        return 2

    names = list(args.scenario or SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"conform run: unknown scenario{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
              file=sys.stderr)
        print("known scenarios:\n  " + "\n  ".join(SCENARIOS), file=sys.stderr)
        return 2

    targets: dict[str, str] = {}
    if args.out:
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            print(f"conform run: --out {args.out!r} is not a directory", file=sys.stderr)
            return 2
        targets = {n: os.path.join(args.out, f"{n}.jsonl") for n in names}
        existing = [p for p in targets.values() if os.path.exists(p)]
        if existing:
            print(f"conform run: refusing to overwrite {', '.join(existing)}", file=sys.stderr)
            return 2
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            print(f"conform run: cannot create {args.out!r}: {e.strerror or e}", file=sys.stderr)
            return 2

    check_trace = _load_checker()
    outcomes = [_run_one(name, targets.get(name), check_trace) for name in names]

    if args.json:
        print(json.dumps({"scenarios": [asdict(o) for o in outcomes], "summary": _summary(outcomes)}))
    else:
        for o in outcomes:
            print(_text(o))
        print(_summary_text(outcomes, check_trace is not None))
    return _exit(outcomes, check_trace is not None)


def _run_one(name: str, target: str | None, check_trace: Any) -> Outcome:
    try:
        text = record(name).trace_lines()
    except (ScenarioError, OSError) as e:
        return Outcome(name, "error", reason=f"{type(e).__name__}: {e}")
    written = None
    if target is not None:
        try:
            with open(target, "x", encoding="utf-8") as f:  # "x": never overwrite
                f.write(text)
            written = target
        except OSError as e:
            return Outcome(name, "error", reason=f"cannot write {target!r}: {e.strerror or e}")
    if check_trace is None:
        return Outcome(name, "unchecked", text.count("\n") - 1,
                       reason="conformance.check is not available", trace=written)
    outcome = check_text(text, check_trace)
    outcome.name, outcome.trace = name, written
    return outcome


def _text(o: Outcome) -> str:
    head = f"{o.name:<30} {o.verdict:<9} {o.events:>4} events"
    if o.trace:
        head += f"  -> {o.trace}"
    if o.verdict in ("conforms", "unchecked"):
        return head
    if o.verdict in ("diverges", "invalid") and o.line is not None:
        detail = f"\n    line {o.line}: {o.reason}\n    {o.event or ''}"
        if o.verdict == "diverges":
            detail += f"\n    model allowed here: {', '.join(o.allowed) if o.allowed else 'nothing'}"
        return head + detail
    return head + f"\n    {o.reason}"


def _summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"scenarios": len(outcomes)}
    for o in outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    return counts


def _summary_text(outcomes: list[Outcome], checked: bool) -> str:
    counts = _summary(outcomes)
    parts = [f"{counts.get(k, 0)} {k}" for k in ("conforms", "diverges", "invalid", "error", "unchecked")
             if counts.get(k)]
    text = f"{len(outcomes)} scenarios: " + ", ".join(parts)
    if not checked:
        text += " (conformance.check is not available: traces were recorded but not checked)"
    return text


def _exit(outcomes: list[Outcome], checked: bool) -> int:
    verdicts = {o.verdict for o in outcomes}
    if not checked or verdicts & {"invalid", "error", "unchecked"}:
        return 2
    return 1 if "diverges" in verdicts else 0
