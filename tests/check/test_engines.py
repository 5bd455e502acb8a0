"""Every engine of the checker gives the same answers on every trace the project keeps.

The traces: the examples of ../shared/trace-examples, the recorded traces of
tests/traces, and every run the proofs store (tcpconform/properties/runs:
the witnesses and counterexamples ``conform prove --out`` writes as traces,
and the premises' runs).  On each, the plain engine (with and without rule
coverage), the memoised engine and the engine with observers (with both
observers off, in a closed world: it reads no observation) must agree on the verdict, the line, the
reason, the "allowed" list, what the model expected and the rules involved, and the event count; a
trace the reader refuses is refused the same way whichever engine reads it.  The divergent traces of
tests/traces/divergences too.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tcpconform.check import memo
from tcpconform.check.memo import MemoSearch
from tcpconform.check.observed import ObservedSearch
from tcpconform.check.plain import PlainSearch
from tcpconform.check.search import check_trace, run_engine
from tcpconform.check.trace import TraceError, read_trace

ROOT = Path(__file__).resolve().parents[2]
RECORDED = sorted((ROOT / "tests" / "traces").glob("*.jsonl"))
DIVERGENT = sorted((ROOT / "tests" / "traces" / "divergences").glob("*.jsonl"))
STORED_RUNS = sorted(p.stem for p in (ROOT / "tcpconform" / "properties" / "runs").glob("*.json"))
GIVEN = " (given the x-packet/x-state observations so far)"


def _engines(profile: str, world: str) -> dict:
    engines = {"plain": PlainSearch(profile, world), "plain with coverage": PlainSearch(profile, world, coverage=True),
               "memoised": MemoSearch(profile, world)}
    if world == "closed":
        engines["observed, nothing observed"] = ObservedSearch(profile, world, {"packets": False, "states": False})
    return engines


def answers(text: str) -> dict:
    """Each engine's answer on the trace ``text``."""
    try:
        header, _events = read_trace(io.BytesIO(text.encode()))
        names = list(_engines(header.profile, header.world))
    except TraceError as e:
        return {"reader": ("invalid", str(e))}
    out = {}
    for name in names:
        engine = _engines(header.profile, header.world)[name]
        try:
            _header, events = read_trace(io.BytesIO(text.encode()))
            v = run_engine(engine, events)
        except TraceError as e:
            out[name] = ("invalid", str(e))
            continue
        out[name] = (v.verdict, v.line, v.reason.replace(GIVEN, ""), v.allowed, v.events, v.expected, v.rules)
    return out


def _same(got: dict) -> None:
    first = next(iter(got.values()))
    assert all(a == first for a in got.values()), json.dumps(got, indent=1, default=str)


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "STRICT", True)  # a fault of the memoised engine fails, not falls back


def test_every_example_trace(shared: Path) -> None:
    paths = sorted((shared / "trace-examples").glob("*.jsonl"))
    assert len(paths) >= 4
    for path in paths:
        _same(answers(path.read_text()))


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_every_recorded_trace(path: Path) -> None:
    got = answers(path.read_text())
    _same(got)
    # with its observations, the trace is checked by the engine with observers, and they fit
    header, events = read_trace(io.BytesIO(path.read_bytes()))
    v = check_trace(header, events)
    assert (v.verdict, v.x_checked > 0) == (got["plain"][0], True)


@pytest.mark.parametrize("path", DIVERGENT, ids=[p.stem for p in DIVERGENT])
def test_every_divergent_trace(path: Path) -> None:
    got = answers(path.read_text())
    _same(got)
    assert got["plain"][0] == "diverges" and got["plain"][5]   # with what the model expected


def test_every_stored_proof_run_as_a_trace() -> None:
    from tcpconform.properties import prove, runs
    checked = 0
    for name in STORED_RUNS:
        run, _fields = runs.load(name)
        if run is None:
            continue
        got = answers(prove.trace_of(run, {"run": name}))
        _same(got)
        checked += 1
    assert checked >= 20  # witnesses, counterexamples and premises


def test_the_comparison_can_fail() -> None:
    # the observed engine given its observations may say more than the others: here
    # an x-packet the model never sent, which only it reads
    text = "\n".join(json.dumps(x) for x in [
        {"trace": 1},
        {"ev": "call", "sock": "s", "op": "socket", "ret": "ok"},
        {"ev": "x-packet", "src": "127.0.0.1:1", "dst": "127.0.0.1:2", "flags": "SYN"},
    ]) + "\n"
    engines = _engines("linux", "closed")
    engines["observed, nothing observed"] = ObservedSearch("linux", "closed", {"packets": True, "states": True})
    with_observation = {}
    for name, engine in engines.items():
        _h, events = read_trace(io.BytesIO(text.encode()))
        v = run_engine(engine, events)
        with_observation[name] = (v.verdict, v.line)
    with pytest.raises(AssertionError):
        _same(with_observation)
    _same(answers(text))  # reading no observation, the same answers
