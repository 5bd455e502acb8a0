"""The diagrams are derived from the rule table, and say what it says.

* the state diagram's boxes are exactly the model's states and its arrows
  exactly the edges :func:`tcpconform.model.graph.state_graph` derives (read back from
  the DOT text, not from the renderer's data);
* changing a rule changes the graph, the diagram and the call table;
* defining or checking the model imports nothing of Graphviz;
* without the ``dot`` program the DOT files are still written, with a
  message saying what to install;
* the committed ``docs/diagrams/*.dot`` are what the renderer produces now.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcpconform import cli
from tcpconform.diagrams import render
from tcpconform.model import graph, rules, semantics, space, vocab
from tests.diagrams.dotread import drawn_edges, graph_edges, parse_dot
from tests.helpers import Trace, state

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM_DIR = ROOT / "docs" / "diagrams"


def with_case(cases, case_id: str, **outcome_set) -> tuple:
    """A copy of ``cases`` in which ``case_id``'s outcomes set other fields."""
    out = []
    for c in cases:
        if c.id == case_id:
            c = dataclasses.replace(c, outcomes=tuple(
                dataclasses.replace(o, set={**o.set, **outcome_set}) for o in c.outcomes))
        out.append(c)
    return tuple(out)


# --------------------------------------------------------------------------
# The state diagram is the table's graph
def test_diagram_nodes_are_the_model_states():
    nodes, _ = parse_dot(render.states_diagram())
    states = {a["state"] for a in nodes.values() if "state" in a}
    assert states == set(vocab.STATES)
    for s in vocab.STATES:          # each state has its own box, named after it
        assert nodes[s]["state"] == s and nodes[s]["label"] == s


def test_diagram_edges_are_the_derived_graph():
    g = graph.state_graph()
    assert drawn_edges(render.state_dot(g)) == graph_edges(g)
    assert len(g.edges) > 30


def test_graph_has_the_transitions_of_the_table():
    g = graph.state_graph()
    assert g.nodes == vocab.STATES
    ids = {c.id for c in rules.CASES}
    for e in g.edges:
        assert e.src != e.dst, e                   # no self-loops
        assert set(e.cases) <= ids
        assert e.label.startswith(e.event)
    # every st a case can set appears as the target of one of its edges
    for c in rules.CASES:
        if any(e.cases == (c.id,) for e in g.edges):
            targets = {o.set["st"] for o in c.outcomes if "st" in o.set}
            reached = {e.dst for e in g.edges_of_case(c.id)}
            assert targets <= reached | {"CLOSED"}, c.id


def test_main_paths_spawn_and_request_socks():
    g = graph.state_graph()
    for pair in graph.MAIN_PAIRS:
        assert any(e.main_path for e in g.edges if (e.src, e.dst) == pair), pair
    spawn = [e for e in g.edges if e.new_endpoint]
    assert [(e.src, e.dst) for e in spawn] == [("LISTEN", "SYN_RECEIVED")]
    assert spawn[0].linux_departure and spawn[0].main_path and spawn[0].label.startswith("rcv SYN")
    req = {(e.dst, e.action) for e in g.edges if e.request_sock}
    assert ("ESTABLISHED", "joins accept queue") in req
    assert ("CLOSED", "drop request sock") in req
    rfc = {(e.src, e.dst) for e in g.edges if e.rfc_only}
    assert rfc == {("LISTEN", "SYN_SENT"), ("SYN_RECEIVED", "LISTEN")}
    assert all(e.linux_departure for e in g.edges if e.rfc_only)
    labels = {e.label for e in g.edges}
    assert {"connect() / snd SYN", "rcv SYN,ACK / snd ACK", "close() / snd FIN",
            "rcv FIN / snd ACK", "timeout 60s"} <= labels


@pytest.mark.slow   # measured above 5 s (pytest --durations)
def test_changing_a_rule_changes_the_diagram():
    edited = with_case(rules.CASES, "fw1.ackfin", st="CLOSING")
    g0, g1 = graph.state_graph(), graph.state_graph(cases=edited)
    moved = [e for e in g1.edges if "fw1.ackfin" in e.cases]
    assert [(e.src, e.dst) for e in moved] == [("FIN_WAIT_1", "CLOSING")]
    assert not any("fw1.ackfin" in e.cases for e in g1.edges if e.dst == "FIN_WAIT_2")
    dot0, dot1 = render.state_dot(g0), render.state_dot(g1)
    assert dot0 != dot1
    assert ("FIN_WAIT_1", "CLOSING", "rcv ACK of FIN", "fw1.ackfin") in drawn_edges(dot1)
    assert ("FIN_WAIT_1", "FIN_WAIT_2", "rcv ACK of FIN", "fw1.ackfin") in drawn_edges(dot0)
    assert drawn_edges(dot1) == graph_edges(g1)
    # a case taken away takes its arc with it
    fewer = tuple(c for c in rules.CASES if c.id != "synsent.syn")
    assert ("SYN_SENT", "SYN_RECEIVED") in graph.state_graph().pairs()
    assert ("SYN_SENT", "SYN_RECEIVED") not in graph.state_graph(cases=fewer).pairs()


def test_changing_a_rule_changes_the_call_table():
    table = graph.call_table()
    assert table["CLOSED"]["listen"] == ["ok"]
    edited = tuple(dataclasses.replace(c, outcomes=tuple(dataclasses.replace(o, ret="EPERM") for o in c.outcomes))
                   if c.id == "listen.ok" else c for c in rules.CASES)
    assert graph.call_table(cases=edited)["CLOSED"]["listen"] == ["EPERM"]


def test_call_table_is_what_the_semantics_says():
    reps = graph.representatives()
    table = graph.call_table()
    assert set(table) == set(vocab.STATES)
    for st, row in table.items():
        rep = reps[st]
        assert rep.st == st and rep.fd == "open"
        assert set(row) == set(vocab.ALL_CALLS) - {"socket", "poll"}
        for op, rets in row.items():
            # what the model's own step gives for the blocking representative, quiet inputs
            inputs = {k: False for k in vocab.INPUTS}
            params = {"len": 2, "how": "rdwr", "linger0": False, "port0": False}
            direct = {r.ret for r in semantics.step(rep, "call:" + op, "linux", inputs, params)}
            assert direct <= set(rets), (st, op, direct, rets)


def test_graph_reads_an_edited_table_as_the_semantics_does():
    """An edited case list is read by the same semantics as the model's own
    table (uncached): a copy of the table gives the same space and graph."""
    copy = list(rules.CASES)
    real, mirror = space.explore("linux"), space.explore("linux", copy)
    assert real.reach == mirror.reach
    assert [(t.src, t.case.id, t.outcome.name, t.ret, t.dst) for t in real.transitions] == \
        [(t.src, t.case.id, t.outcome.name, t.ret, t.dst) for t in mirror.transitions]
    assert graph.state_graph(cases=copy) == graph.state_graph()


# --------------------------------------------------------------------------
# Graphviz stays out of the model
def test_model_does_not_import_graphviz():
    code = ("import sys, tcpconform.model.graph, tcpconform.model.rules, tcpconform.model.semantics, tcpconform.model.system, tcpconform.check.search, tcpconform.diagrams.render\n"
            "bad = sorted(m for m in sys.modules if m == 'graphviz' or m.startswith('graphviz.'))\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------
# Writing the files
def test_without_dot_the_dot_files_are_written_and_the_message_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert shutil.which("dot") is None
    out = tmp_path / "out"
    assert cli.main(["diagram", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{n}.dot" for n in render.DIAGRAMS)
    err = capsys.readouterr().err
    assert "'dot'" in err and "not found" in err
    assert "apt-get install graphviz" in err
    assert "only the DOT files were written" in err


def test_without_dot_via_which(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    files, note = render.write_diagrams(tmp_path, names=["tcp-states"])
    assert [f.name for f in files] == ["tcp-states.dot"]
    assert note and "install Graphviz" in note


def test_a_failing_dot_is_reported(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Error: something broke' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert cli.main(["diagram", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "something broke" in err and "exit 3" in err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_dot_renders_every_diagram_without_a_warning(tmp_path):
    files, note = render.write_diagrams(tmp_path)
    assert note is None
    for name in render.DIAGRAMS:
        for ext in ("dot", "svg", "png"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
        proc = subprocess.run(["dot", "-Tsvg", "-o", os.devnull, str(tmp_path / f"{name}.dot")],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr == "", (name, proc.stderr)


def test_committed_diagrams_are_up_to_date():
    stale = []
    for name, make in render.DIAGRAMS.items():
        path = DIAGRAM_DIR / f"{name}.dot"
        if not path.exists() or path.read_text(encoding="utf-8") != make():
            stale.append(path.name)
    assert not stale, f"stale diagrams {stale}: run `bin/dev conform diagram` and commit docs/diagrams/"


# --------------------------------------------------------------------------
# Sequence charts, traces, coverage
def test_sequence_charts_are_model_runs():
    nodes, _ = parse_dot(render.DIAGRAMS["seq-handshake"]())
    texts = [a["label"] for a in nodes.values() if a.get("kind") == "state"]
    assert "c: SYN_SENT" in texts and "c: ESTABLISHED" in texts
    assert "request sock: SYN_RECEIVED" in texts and "s: ESTABLISHED" in texts
    labels = {a["label"] for a in nodes.values() if "arrow" in a}
    assert {"SYN", "SYN,ACK", "ACK", "joins queue"} <= labels
    nodes, _ = parse_dot(render.DIAGRAMS["seq-close"]())
    texts = {a["label"] for a in nodes.values() if a.get("kind") == "state"}
    assert {"c: FIN_WAIT_1", "c: FIN_WAIT_2", "c: TIME_WAIT", "c: CLOSED",
            "s: CLOSE_WAIT", "s: LAST_ACK", "s: CLOSED"} <= texts


def test_a_run_the_model_forbids_is_refused():
    chart = render.SeqChart("x", ["app", "c"])
    run = render.ModelRun(chart, {"c": (1, 0)}, {})
    run.call("c", "socket")
    with pytest.raises(render.system.ModelError):
        run.call("c", "recv", "ok", length=4, n=4)   # nothing was ever received


def _listener_reads_data() -> Trace:
    """A listener's recv() returns data: the model diverges at line 6."""
    return (Trace().call("L", "socket").call("L", "bind", addr="127.0.0.1:0", local="127.0.0.1:45001")
            .call("L", "listen", backlog=1).state("L", "LISTEN")
            .call("L", "recv", len=10, n=3).call("L", "close"))


def _trace() -> list:
    return _listener_reads_data().read()[1]


def test_sequence_from_trace_marks_the_divergence():
    assert _listener_reads_data().diverges(at=6).line == 6
    nodes, _ = parse_dot(render.sequence_from_trace(_trace(), divergence_line=6))
    errors = [a for a in nodes.values() if a.get("kind") == "error"]
    assert len(errors) == 1 and "recv(10) → 3" in errors[0]["label"]
    assert errors[0]["color"] == render.C_RED
    gutter = [a["label"] for a in nodes.values() if a.get("label", "").startswith("line 6")]
    assert gutter == ["line 6 ✗ diverges"]
    later = [a for a in nodes.values() if a.get("kind") == "call" and "close()" in a.get("label", "")]
    assert later and later[0]["color"] == "#aaaaaa"      # after the divergence: grey
    clean, _ = parse_dot(render.sequence_from_trace(_trace()))
    assert not [a for a in clean.values() if a.get("kind") == "error"]


def test_a_long_trace_is_drawn_around_its_divergence():
    long = Trace().call("L", "socket").add(*[state("L", s) for s in ("CLOSED", "LISTEN") * 250]).read()[1]
    dot = render.sequence_from_trace(long, divergence_line=400)
    nodes, _ = parse_dot(dot)
    rows = [a for a in nodes.values() if a.get("kind") in ("state", "error", "call")]
    assert len(rows) == render.MAX_TRACE_ROWS
    assert [a for a in rows if a["kind"] == "error"]
    assert "of the trace shown" in dot


def test_coverage_overlay():
    dot = render.coverage_overlay({"listen.ok": 3, "bind.ok": 1, ("close.fin", "ESTABLISHED"): 2},
                                  divergent_case="close.listen")
    _, edges = parse_dot(dot)
    by_case = {a["cases"]: a for _t, _h, a in edges if "cases" in a}
    assert by_case["listen.ok"]["color"] == render.C_OK and "×3" in by_case["listen.ok"]["label"]
    assert by_case["close.listen"]["color"] == render.C_RED
    fin = [a for _t, _h, a in edges if "close.fin" in a.get("cases", "").split()]
    assert {a["src_state"]: a["color"] for a in fin} == {"ESTABLISHED": render.C_OK,
                                                          "SYN_RECEIVED": "#c8c8c8"}
    assert "bind.ok ×1" in dot                 # a rule that moves no arc is listed
    # a bare id that draws several arcs: "here or on another arc"
    dot = render.coverage_overlay({"close.fin": 1})
    assert dot.count("here or on another arc") == 2
    # a divergent rule that moves no arc is marked on the states it applies in
    nodes, edges = parse_dot(render.coverage_overlay({}, divergent_case="recv.listen"))
    assert "divergence" in nodes and nodes["LISTEN"]["color"] == render.C_RED
    assert [h for t, h, _a in edges if t == "divergence"] == ["LISTEN"]
    assert drawn_edges(dot) == graph_edges(graph.state_graph())


def test_a_dup_is_drawn_as_a_second_descriptor_of_the_socket():
    """A trace from a forking server (conform trace): the child's inherited
    listener is an arrow from the parent's lane, labelled as the same socket,
    with its legend row; a trace without dup has neither."""
    import gzip
    from tcpconform.check.trace import read_trace as read
    from tcpconform.diagrams.render import sequence_from_trace
    from tcpconform.strace.convert import trace_text
    logs = Path(__file__).resolve().parents[1] / "strace" / "logs"
    with gzip.open(logs / "fork-select-poll-epoll.log.gz", "rt") as f:
        text, _ = trace_text(f.read().splitlines(), {})
    _, events = read(text.encode().splitlines(keepends=True))
    dot = sequence_from_trace(list(events))
    assert "the same socket, descriptor" in dot and "a second descriptor of the same socket" in dot
    _, events = read(b'{"trace": 1}\n{"ev": "call", "sock": "c", "op": "socket", "ret": "ok"}\n'.splitlines(True))
    assert "second descriptor" not in sequence_from_trace(list(events))
