"""Live tests: record every scenario on this machine's loopback and check it.

* every recorded trace is a valid trace (the reader accepts it);
* every recorded trace conforms to the model;
* one-event mutants of recorded traces, each something Linux cannot produce,
  are rejected as "diverges" at exactly the mutated line;
* the recorder's own guarantees: cleanup, watchdog, loopback only, no call on
  a closed descriptor, states after close read from sock_diag, netstat rows;
* ``conform run`` (in worker processes, see also tests/live/test_campaign.py).

Each scenario is recorded once per test session (about 1.5 s in all).
"""

from __future__ import annotations

import copy
import io
import json
import os
import sys
import time
from typing import Any, Callable

import pytest

from tcpconform import cli
from tcpconform.check.trace import read_trace
from tcpconform.live.checking import check_recorded
from tcpconform.live.netfilter import ScenarioSkipped
from tcpconform.live.pool import isolation_of, network_line
from tcpconform.live.recorder import Recorder, ScenarioError, ScenarioTimeout
from tcpconform.live.run import run_scenarios
from tcpconform.live.scenarios import PINS, SCENARIOS, record
from tcpconform.model import vocab
from tcpconform.model.rules import CASES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the recorder drives Linux TCP sockets over loopback")

_recorded: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}


def recorded(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, events) of scenario ``name``, recorded once per session; copies."""
    if name not in _recorded:
        try:
            rec = record(name)
        except ScenarioSkipped as e:  # needs the run's own namespace: tested through conform run below
            pytest.skip(f"{name}: {e}")
        _recorded[name] = (rec.header(), rec.events)
    header, events = _recorded[name]
    return copy.deepcopy(header), copy.deepcopy(events)


def test_held_back_segments_reach_simultaneous_open_and_close(capsys: pytest.CaptureFixture[str]) -> None:
    """In the run's own namespace (root, nft), SYNs and FINs held back make the ends cross, and
    shortened timers run out; each scenario uses the rules it pins."""
    import shutil
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nft (bin/dev installs nftables as root)")
    names = ["simultaneous-open", "simultaneous-close", "simultaneous-close-one-fin-held",
             "rst-in-active-syn-received", "calls-in-active-syn-received", "fin-acked-by-the-peers-fin",
             "rst-in-last-ack", "syn-retries-run-out", "orphan-fin-wait-2-times-out"]
    report = run_scenarios(names)
    assert [o.verdict for o in report.outcomes] == ["conforms"] * len(names), report.outcomes
    assert report.status == 0
    pinned = {rule for n in names for rule in PINS[n]}
    assert {"synsent.syn", "synrcvd.ack", "fw1.fin", "closing.ackfin"} | pinned <= set(report.coverage.exercised)


def text_of(header: dict[str, Any], events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o) + "\n" for o in [header, *events])


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------
# every scenario
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_records_a_valid_trace(name: str) -> None:
    header, events = recorded(name)
    assert header["meta"]["scenario"] == name
    parsed_header, parsed = read_trace(io.BytesIO(text_of(header, events).encode()))
    parsed = list(parsed)
    assert (parsed_header.profile, parsed_header.world) == (vocab.profile_for_kernel(os.uname().release), "closed")
    assert len(parsed) == len(events)
    assert any(e["ev"] == "state" for e in events)


# Recordings the model does not explain yet, with what Linux does there. Strict:
# once the model is fixed the test XPASSes and fails, so remove the entry then.
# Scenarios the model does not yet explain, each with the reason; strict, so
# a fixed gap fails here until its entry is removed.
KNOWN_MODEL_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_MODEL_GAPS[n], strict=True))
    if n in KNOWN_MODEL_GAPS else n
    for n in SCENARIOS
])
def test_scenario_conforms(name: str) -> None:
    outcome = check_recorded(text_of(*recorded(name)))
    assert outcome.verdict == "conforms", (
        f"{name}: {outcome.verdict} at line {outcome.line}: {outcome.reason}\n"
        f"  {outcome.event}\n  model allowed: {outcome.allowed}")


@pytest.mark.parametrize("name", [n for n in SCENARIOS if PINS[n]])
def test_scenario_uses_the_rules_it_pins(name: str) -> None:
    """A scenario that says which rules it is evidence for must reach each of them:
    the explaining run uses every pinned rule, so a wrong pinned rule makes it diverge."""
    outcome = check_recorded(text_of(*recorded(name)))
    used = {rule for rule, _ in outcome.coverage}
    missing = [rule for rule in PINS[name] if rule not in used]
    assert not missing, f"{name} pins {missing} but its explaining run never used them (used: {sorted(used)})"


def test_pinned_rules_exist() -> None:
    ids = {c.id for c in CASES}
    unknown = {n: [r for r in pins if r not in ids] for n, pins in PINS.items()}
    assert not {n: r for n, r in unknown.items() if r}, unknown


# ---------------------------------------------------------------------------
# one-event mutants that Linux cannot produce
# ---------------------------------------------------------------------------

def call(sock: str, op: str, ret: str | None = None, nth: int = 0, **fields: Any) -> Callable:
    """A finder: index of the ``nth`` call event matching sock, op, ret and fields."""
    def find(events: list[dict[str, Any]]) -> int:
        hits = [i for i, e in enumerate(events)
                if e["ev"] == "call" and e["sock"] == sock and e["op"] == op
                and (ret is None or e["ret"] == ret)
                and all(e.get(k) == v for k, v in fields.items())]
        assert len(hits) > nth, f"no call #{nth} {sock} {op} {ret} {fields} in the recording"
        return hits[nth]
    return find


def state(sock: str, value: str, nth: int = 0, after: Callable | None = None) -> Callable:
    """A finder: index of the ``nth`` state event of ``sock`` equal to ``value`` (after another event)."""
    def find(events: list[dict[str, Any]]) -> int:
        start = after(events) + 1 if after else 0
        hits = [i for i, e in enumerate(events) if i >= start
                and e["ev"] == "state" and e["sock"] == sock and e["state"] == value]
        assert len(hits) > nth, f"no state #{nth} {sock}={value} in the recording"
        return hits[nth]
    return find


def replace(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A mutation: set these fields (value None removes the field)."""
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        event = dict(event)
        for key, value in changes.items():
            if value is None:
                event.pop(key, None)
            else:
                event[key] = value
        return event
    return mutate


MUTANTS = [
    # (id, scenario, finder, mutation)
    ("send-on-fresh-ENOTCONN", "fresh-socket-calls",
     call("f", "send", "EPIPE"), replace(ret="ENOTCONN")),
    ("connect-on-listener-EINVAL", "listener-calls",
     call("L", "connect", "EISCONN"), replace(ret="EINVAL")),
    ("second-nonblocking-connect-EISCONN", "nonblocking-connect",
     call("c", "connect", "ok"), replace(ret="EISCONN", local=None)),
    ("client-established-reads-LISTEN", "lifecycle-client-closes",
     state("c", "ESTABLISHED"), replace(state="LISTEN")),
    ("recv-more-than-was-sent", "lifecycle-client-closes",
     call("s", "recv", "ok", n=4), replace(n=8)),
    ("accept-ok-on-fresh-socket", "fresh-socket-calls",
     call("f", "accept", "EINVAL"),
     replace(ret="ok", new="ghost", local="127.0.0.1:1", peer="127.0.0.1:2")),
    ("bind-ok-on-a-taken-port", "bind-conflicts",
     call("b", "bind", "EADDRINUSE"), lambda e: {**e, "ret": "ok", "local": e["addr"]}),
    ("rst-in-close-wait-ECONNRESET", "rst-in-close-wait",
     call("c", "send", "EPIPE"), replace(ret="ECONNRESET")),
    ("send-on-listener-ok", "listener-calls",
     call("L", "send", "EPIPE"), replace(ret="ok", n=5)),
    ("listen-twice-EINVAL", "listen-twice",
     call("L", "listen", "ok", nth=1), replace(ret="EINVAL")),
    ("data-after-abort-before-accept", "abort-before-accept",
     call("s", "recv", "ECONNRESET"), replace(ret="ok", n=3)),
    ("passive-closer-in-TIME_WAIT", "lifecycle-client-closes",
     state("s", "CLOSED", after=call("s", "close")), replace(state="TIME_WAIT")),
    # version 2
    ("so-error-reported-twice", "nonblocking-connect-through-poll",
     call("r", "getsockopt", nth=1, opt="SO_ERROR"), replace(value="ECONNREFUSED")),
    ("fresh-socket-polls-without-HUP", "readiness-of-each-state",
     call("f", "poll"), replace(ready=[{"sock": "f", "revents": ["OUT"]}])),
    ("closed-dup-still-sends", "dup-and-close-one",
     call("s", "send", "EBADF"), replace(ret="ok", n=5)),
    ("peek-takes-the-bytes", "peek-then-recv",
     call("s", "ioctl", nth=2, req="FIONREAD"), replace(value=0)),
    ("rcvbuf-not-doubled", "options-read-back",
     call("o", "getsockopt", opt="SO_RCVBUF"), replace(value=1000)),
    ("af-unspec-sends-no-rst", "disconnect-with-af-unspec",
     call("s", "recv", "ECONNRESET"), replace(ret="ok", n=0)),
    ("third-socket-shares-a-reuseport-port", "reuseport-listeners",
     call("X", "bind", "EADDRINUSE"), lambda e: {**e, "ret": "ok", "local": e["addr"]}),
    ("bind-over-a-fresh-time-wait", "reuseaddr-over-time-wait",   # the times say 60 s cannot have passed
     call("n1", "bind", "EADDRINUSE"), lambda e: {**e, "ret": "ok", "local": e["addr"]}),
    ("fresh-socket-has-a-peer", "names-of-each-end",
     call("f", "getpeername", "ENOTCONN"), replace(ret="ok", addr="127.0.0.1:1")),
    ("timed-out-recv-reads-end-of-stream", "timeouts-run-out",
     call("s", "recv", "EAGAIN"), replace(ret="ok", n=0)),
    ("ipv6-only-listener-takes-ipv4", "ipv6-dual-stack",
     call("x4", "connect", "ECONNREFUSED"), replace(ret="ok", local="127.0.0.1:1")),
]


@pytest.mark.parametrize("scenario,find,mutate", [m[1:] for m in MUTANTS], ids=[m[0] for m in MUTANTS])
def test_mutant_is_rejected_at_the_mutated_line(scenario: str, find: Callable, mutate: Callable) -> None:
    header, events = recorded(scenario)
    index = find(events)
    events[index] = mutate(events[index])
    outcome = check_recorded(text_of(header, events))
    assert (outcome.verdict, outcome.line) == ("diverges", index + 2), (
        f"{outcome.verdict} at line {outcome.line} ({outcome.reason}); "
        f"mutated line {index + 2}: {json.dumps(events[index])}")


# ---------------------------------------------------------------------------
# facts the scenarios rely on, as recorded on this kernel
# ---------------------------------------------------------------------------

def test_accept_queue_holds_backlog_plus_one() -> None:
    _, events = recorded("accept-queue-full")
    [queue] = [e for e in events if e["ev"] == "x-acceptq"]
    assert (queue["len"], queue["backlog"]) == (2, 1)
    accepted = [e for e in events if e["ev"] == "call" and e["op"] == "accept" and e["ret"] == "ok"]
    assert len(accepted) == 2


def test_states_after_close_come_from_sock_diag() -> None:
    _, events = recorded("lifecycle-client-closes")
    close_c = call("c", "close")(events)
    after = [e["state"] for e in events[close_c + 1:] if e["ev"] == "state" and e["sock"] == "c"]
    assert after[0] == "FIN_WAIT_1" and "FIN_WAIT_2" in after and after[-1] == "TIME_WAIT"


# ---------------------------------------------------------------------------
# the recorder's guarantees
# ---------------------------------------------------------------------------

def test_every_descriptor_is_closed_even_on_error() -> None:
    before = open_fds()
    with pytest.raises(ZeroDivisionError):
        with Recorder("t") as rec:
            rec.socket("L")
            rec.bind("L", "127.0.0.1:0")
            rec.listen("L", 1)
            rec.socket("c")
            rec.connect("c", rec.local("L"))
            rec.accept("L", "s")
            1 / 0
    assert open_fds() == before
    record("lifecycle-server-closes")
    assert open_fds() == before


def test_a_call_that_would_block_forever_times_out() -> None:
    before = open_fds()
    started = time.monotonic()
    with pytest.raises(ScenarioTimeout):
        with Recorder("t", watchdog=0.2) as rec:
            rec.socket("L")
            rec.bind("L", "127.0.0.1:0")
            rec.listen("L", 1)
            rec.accept("L", "s")  # nobody connects
    assert time.monotonic() - started < 2
    assert open_fds() == before


def test_only_loopback_and_no_call_on_a_closed_descriptor() -> None:
    with Recorder("t") as rec:
        rec.socket("c")
        with pytest.raises(ScenarioError):
            rec.connect("c", "192.0.2.1:80")
        with pytest.raises(ScenarioError):
            rec.bind("c", "0.0.0.0:0")
        rec.close("c")
        with pytest.raises(ScenarioError):
            rec.send("c", 1)
        with pytest.raises(ScenarioError):
            rec.socket("c")  # names are never reused
        assert [e["op"] for e in rec.events if e["ev"] == "call"] == ["socket", "close"]


def test_trace_header() -> None:
    rec = Recorder("demo")
    first = json.loads(rec.trace_lines().splitlines()[0])
    assert first == {"trace": 1, "profile": vocab.profile_for_kernel(os.uname().release), "world": "closed",
                     "meta": {"kernel": os.uname().release, "scenario": "demo"}}


# ---------------------------------------------------------------------------
# conform run
# ---------------------------------------------------------------------------

def conform_run(*argv: str) -> int:
    """``conform run ARGV`` in this process (usage errors only: a run would mount tracefs here)."""
    return cli.main(["run", *argv])


def test_run_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert conform_run("no-such-scenario") == 2
    assert "lifecycle-client-closes" in capsys.readouterr().err


def test_run_refuses_to_overwrite(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "self-connect.jsonl").write_text("keep me")
    assert conform_run("self-connect", "--out", str(tmp_path)) == 2
    assert (tmp_path / "self-connect.jsonl").read_text() == "keep me"
    assert "refusing to overwrite" in capsys.readouterr().err


def test_run_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert conform_run("--seed", "1") == 2  # --seed without --random
    assert conform_run("--random", "-1") == 2
    assert "--seed only makes sense with --random" in capsys.readouterr().err


def test_run_reports_isolation_and_network() -> None:
    report = run_scenarios(["self-connect"])
    assert report.status == 0
    text = network_line(isolation_of(report.ready))
    assert "network: 127.0.0.1 only" in text and "isolation" in text


def test_recorder_netstat_rows() -> None:
    """x-netstat: every socket of the run, with queues from SIOCINQ/SIOCOUTQ, TCP_INFO and sock_diag."""
    with Recorder("t", netstat=True) as rec:
        rec.socket("L")
        rec.bind("L", "127.0.0.1:0")
        rec.listen("L", 3)
        rec.socket("c")
        rec.connect("c", rec.local("L"))
        rec.send("c", 7)
        rows = {r["sock"]: r for r in rec.events[-1]["rows"]}
        assert rec.events[-1]["ev"] == "x-netstat"
        assert (rows["L"]["state"], rows["L"]["recvq"], rows["L"]["sendq"]) == ("LISTEN", 1, 3)
        assert rows["c"]["state"] == "ESTABLISHED" and rows["c"]["foreign"] == rec.local("L")
        waiting = rows[None]  # the connection in L's accept queue: no descriptor yet
        assert (waiting["state"], waiting["recvq"]) == ("ESTABLISHED", 7)
        rec.accept("L", "s")
        rec.close("c")
        rows = {r["sock"]: r for r in rec.events[-1]["rows"]}
        assert rows["c"]["state"] in ("FIN_WAIT_1", "FIN_WAIT_2")  # from sock_diag, after close
        assert rows["s"]["recvq"] == 7


def test_run_writes_and_checks(tmp_path: Any) -> None:
    result = run_scenarios(["self-connect", "fresh-socket-calls"], str(tmp_path))
    report = result.to_json()
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".jsonl")
    assert written == ["fresh-socket-calls.jsonl", "self-connect.jsonl"]
    assert (tmp_path / "coverage.dot").exists()  # the rules the run exercised, drawn
    cov = report["coverage"]
    assert 0 < cov["rules_exercised"] < cov["rules_total"]
    assert "connect.start" in cov["exercised"] and "closewait.rst" in cov["not_exercised"]
    assert [s["name"] for s in report["scenarios"]] == ["self-connect", "fresh-socket-calls"]
    assert result.status == 0, report
    assert report["summary"] == {"scenarios": 2, "conforms": 2}
