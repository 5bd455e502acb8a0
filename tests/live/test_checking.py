"""One pass over a recorded trace gives what three separate checks gave: the verdict of
``check_trace``, the coverage of ``check_trace(coverage=True)`` and the steps of
``explain_text`` (tcpconform.live.checking)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tcpconform.check import explain
from tcpconform.check.search import check_trace
from tcpconform.check.trace import TraceError, read_trace
from tcpconform.live.checking import check_recorded
from tcpconform.live.scenarios import record

TRACES = Path(__file__).resolve().parents[1] / "traces"


def _separately(text: str) -> tuple[tuple, dict, str | None]:
    """(verdict, line, reason, allowed), coverage and explanation, each from a check of its own."""
    try:
        v = check_trace(*read_trace(io.BytesIO(text.encode())))
        verdict = (v.verdict, v.line, v.reason, list(v.allowed))
    except TraceError as e:
        verdict = ("invalid", e.line, e.message, [])
    try:
        coverage = check_trace(*read_trace(io.BytesIO(text.encode())), coverage=True).coverage
    except TraceError:
        coverage = {}
    return verdict, coverage, json.dumps(explain.explain_json(explain.explain_text(text)))


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _replace(lines: list[str], index: int, **fields) -> list[str]:
    return lines[:index] + [json.dumps(dict(json.loads(lines[index]), **fields))] + lines[index + 1:]


def _observed_traces() -> dict[str, str]:
    """A stored trace with x-packet and x-state observations, and mutants of it: an x-state
    the x- checks reject (the coverage search, which does not check them, goes on), a call
    result no search explains, and a line no reader accepts."""
    text = (TRACES / "simultaneous-open-syn-lost.jsonl").read_text()
    lines = _lines(text)
    x_state = next(i for i, t in enumerate(lines) if '"x-state"' in t and '"sock"' in t)
    call = next(i for i, t in enumerate(lines) if '"op": "connect"' in t)
    return {
        "observed": text,
        "x-state mutant": _join(_replace(lines, x_state, to="CLOSE_WAIT")),
        "call mutant": _join(_replace(lines, call, ret="ECONNREFUSED")),
        "unreadable line": _join(lines[:call] + ['{"ev": "call"'] + lines[call:]),
    }


@pytest.mark.parametrize("name", list(_observed_traces()))
def test_one_pass_gives_the_three_checks(name: str) -> None:
    text = _observed_traces()[name]
    verdict, coverage, steps = _separately(text)
    one = check_recorded(text, explain=True)
    assert (one.verdict, one.line, one.reason, one.allowed) == verdict
    assert one.coverage == coverage
    assert json.dumps(explain.explain_json(one.explanation)) == steps
    assert check_recorded(text).explanation is None


def test_the_x_checks_decide_the_verdict_and_the_coverage_goes_on() -> None:
    text = _observed_traces()["x-state mutant"]
    one = check_recorded(text, keep_events=True)
    assert one.verdict == "diverges" and one.reason.endswith("(x-state)")
    assert one.event == _lines(text)[one.line - 1]
    assert one.coverage and len(one.parsed) == len(_lines(text)) - 1  # every event, past the divergence


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="records Linux TCP sockets over loopback")
def test_one_pass_on_a_recording_with_netstat_snapshots() -> None:
    text = record("nonblocking-connect", netstat=True).trace_lines()
    lines = _lines(text)
    recv = next(i for i, t in enumerate(lines) if '"op": "recv"' in t and '"ret": "ok"' in t)
    for trace in (text, _join(_replace(lines, recv, n=json.loads(lines[recv])["n"] + 1))):
        verdict, coverage, steps = _separately(trace)
        one = check_recorded(trace, explain=True)
        assert (one.verdict, one.line, one.reason, one.allowed) == verdict
        assert one.coverage == coverage and coverage
        assert json.dumps(explain.explain_json(one.explanation)) == steps
        assert all(step.kernel is not None for step in one.explanation if step.verdict is None)
