"""The checker's bounds: a check that reaches one (model configurations
explaining the trace at once, wall time, memory) stops with the verdict
"undecided" (exit 3), the line it reached and the bound, never "diverges";
within the bounds, verdicts are what they were."""

from __future__ import annotations

import io
import json

import pytest

from tcpconform.check.bounds import Bounds
from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.cli import main
from tests.helpers import load_benchmark


BENCH = load_benchmark("bench_concurrency")
# K non-blocking connects to one listener, then K accepts (an event loop's accept
# loop under load): valid, and ambiguous for a while (which handshake completed
# first); wrong_accept=True: the last accept names a peer that never connected
connects_then_accepts = BENCH.connects_then_accepts
cold = BENCH.cold


def check(text: str, limits: Bounds | None = None, fast: bool = True):
    cold()
    header, events = read_trace(io.BytesIO(text.encode()))
    return check_trace(header, events, fast=fast, limits=limits)


@pytest.mark.parametrize("fast", [True, False])
def test_past_the_frontier_bound_the_check_is_undecided_at_the_line_reached(fast):
    text = connects_then_accepts(4)
    assert check(text, fast=fast).verdict == "conforms"
    v = check(text, Bounds(frontier=20), fast=fast)
    assert v.verdict == "undecided" and v.exit_code == 3
    assert "frontier bound (20)" in v.reason
    assert 5 <= v.line <= len(text.splitlines())  # past the listener, at the event where it grew too wide


def test_time_and_memory_bounds_stop_the_check_undecided():
    text = connects_then_accepts(8)  # minutes unbounded
    v = check(text, Bounds(seconds=0.5))
    assert v.verdict == "undecided" and "seconds bound (0.5)" in v.reason
    v = check(text, Bounds(memory=1))
    assert v.verdict == "undecided" and "memory bound (1)" in v.reason


def test_within_the_bounds_a_divergence_stays_a_divergence():
    v = check(connects_then_accepts(3, wrong_accept=True), Bounds(frontier=20_000, seconds=60))
    assert v.verdict == "diverges" and v.exit_code == 1


def test_the_command_says_undecided_with_exit_3(tmp_path, capsys):
    path = tmp_path / "k4.jsonl"
    path.write_text(connects_then_accepts(4))
    assert main(["check", str(path)]) == 0
    capsys.readouterr()
    cold()
    assert main(["check", str(path), "--max-frontier", "20", "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "undecided" and out["line"] and "frontier" in out["reason"]
    cold()
    assert main(["check", str(path), "--max-frontier", "20"]) == 3
    assert capsys.readouterr().out.startswith(f"undecided at line {out['line']}: ")
    for bad in (["--max-frontier", "0"], ["--max-seconds", "-1"], ["--max-memory", "0"]):
        assert main(["check", str(path), *bad]) == 2
        assert "needs a positive number" in capsys.readouterr().err


def test_an_explanation_says_undecided_not_diverges():
    from tcpconform.check import bounds
    from tcpconform.check.explain import explain_text
    cold()
    with bounds.applied(Bounds(frontier=20)):
        steps = explain_text(connects_then_accepts(4))
    assert steps[-1].verdict == "undecided" and steps[-1].detail[0].startswith("undecided at line ")
    assert not any("model allowed here" in d for d in steps[-1].detail)


def test_each_thread_has_its_own_bounds():
    import threading
    from tcpconform.check import bounds
    from tcpconform.model import system
    seen = {}
    entered, leave = threading.Event(), threading.Event()

    def bounded():
        with bounds.applied(Bounds(frontier=5, seconds=0.001)):
            seen["inside"] = bounds.frontier()
            entered.set()
            leave.wait(5)
    t = threading.Thread(target=bounded)
    t.start()
    entered.wait(5)
    seen["outside"], seen["watch"] = bounds.frontier(), system.WATCH.get()
    leave.set()
    t.join(5)
    assert seen == {"inside": 5, "outside": Bounds().frontier, "watch": None}
    assert check(connects_then_accepts(3)).verdict == "conforms"  # nothing left behind
