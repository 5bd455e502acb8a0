"""The diagrams teach what the model and the traces say (issue 14, "Diagrams
right and readable"), read back from the DOT text the renderer writes:

* a witness's or a counterexample's chart shows each send's and recv's real
  byte count, the segments the run sent as arrows between the sockets'
  lanes, and numbers every row with the line of the trace ``conform prove
  --out`` writes for the same run;
* a recorded trace's chart draws a socket's state only when it changed, and
  the captured segments (``x-packet``) as arrows;
* the state diagram draws in RFC 9293's style exactly the arcs of its
  Figure 5, every other arc dashed, with a legend entry saying so; no two
  arrows into one box carry the same words, and (with Graphviz) no two
  labels into the bottom CLOSED box overlap;
* the call table's legend shows exactly the cells' colours, with the same
  meaning; a blocking call says what it returns when it wakes, a recv at
  the end of the stream says 0, both read from the rule table;
* the coverage overlay draws the rule the trace diverged at in red when it
  is given one (and promises red only then), and counts rules as
  ``conform --version`` does.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.diagrams import render
from tcpconform.model import graph, rules, vocab
from tests.diagrams.dotread import parse_dot
from tests.helpers import Trace

ROOT = Path(__file__).resolve().parents[2]
HAS_DOT = shutil.which("dot") is not None
LIFECYCLE = ROOT / "evidence" / "traces" / "linux-6.18" / "lifecycle-client-closes.jsonl"


# --------------------------------------------------------------------------
# Reading a sequence chart back
@dataclasses.dataclass
class Chart:
    lanes: dict[int, str]          # lane -> its header ("socket L")
    boxes: list[dict]              # call, state and error boxes: label, lane, row, kind
    gutter: dict[int, str]         # row -> its line note ("line 7")
    arrows: list[dict]             # label, kind, from_lane, to_lane, from_row, to_row


def read_chart(text: str) -> Chart:
    nodes, edges = parse_dot(text)
    lanes = {int(a["lane"]): a["label"] for n, a in nodes.items() if re.fullmatch(r"lane\d+", n)}
    boxes = [a for n, a in nodes.items() if re.fullmatch(r"b\d+", n) and a.get("kind") in ("call", "state", "error")]
    gutter = {int(n[1:]): a["label"] for n, a in nodes.items() if re.fullmatch(r"g\d+", n)}
    words = {a["arrow"]: a["label"] for n, a in nodes.items() if re.fullmatch(r"l\d+", n)}
    arrows = [dict(a, label=words[a["arrow"]]) for _t, _h, a in edges if "arrow" in a]
    return Chart(lanes, boxes, gutter, arrows)


def socket_of(chart: Chart, lane: str) -> str:
    return chart.lanes[int(lane)].removeprefix("socket ")


def gutter_lines(note: str) -> list[int]:
    """The trace lines a row's note names: "line 7", "lines 7–8", "lines 7, 9"."""
    m = re.match(r"lines? ([\d–, ]+)", note)
    assert m, note
    spec = m.group(1).strip()
    if "–" in spec:
        a, b = spec.split("–")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in spec.split(",")]


# --------------------------------------------------------------------------
# 1. The runs of proofs
def _stored(name: str):
    from tcpconform.properties import runs
    return runs.Run.from_json(json.loads((runs.DIR / f"{name}.json").read_text()))


def _drawn_and_written(result: dict, tmp_path: Path) -> tuple[Chart, list[dict]]:
    """The chart draw_runs writes for a result, and the trace prove --out writes for it."""
    from tcpconform.properties import prove
    written = prove.write_runs([result], str(tmp_path / "out"))
    trace = next(Path(p) for p in written if p.endswith(".jsonl"))
    drawn = render.draw_runs([result], str(tmp_path / "charts"))
    dot = next(Path(p) for p in drawn if p.endswith(".dot"))
    return read_chart(dot.read_text()), [json.loads(x) for x in trace.read_text().splitlines()]


def _assert_rows_are_the_trace_lines(chart: Chart, lines: list[dict]) -> None:
    """Every box is the event at a line its row's note names in the written trace."""
    for box in chart.boxes:
        sock = socket_of(chart, box["lane"])
        named = [lines[n - 1] for n in gutter_lines(chart.gutter[int(box["row"])])]
        text = box["label"].removeprefix("✗ ")
        if box["kind"] == "state" or not re.match(r"\w+\(", text):
            assert {"ev": "state", "sock": sock, "state": text} in named, (box, named)
        else:
            op = text.split("(", 1)[0]
            assert any(e.get("ev") == "call" and e["sock"] == sock and e["op"] == op for e in named), (box, named)


def test_a_witness_chart_shows_byte_counts_segments_and_the_lines_of_its_trace(tmp_path):
    run = _stored("S9_one_send_two_recvs")
    from tcpconform.properties import runs
    result = {"witness": "S9_one_send_two_recvs", "origin": "S9", "method": "stored run",
              "run": runs.rows(run), "_run": run}
    chart, lines = _drawn_and_written(result, tmp_path)
    calls = [b["label"].split("\n")[0] for b in chart.boxes if b["kind"] == "call"]
    sent = [e for e in lines if e.get("op") in ("send", "recv")]
    assert sent and all(e["n"] > 0 for e in sent)
    for e in sent:   # each with its real count: S9's one send of 5 read by recvs of 3 and 1
        assert f"{e['op']}({e['len']}) → {e['n']}" in calls
    assert not [c for c in calls if re.match(r"(send|recv)\(.*→ 0", c)]
    _assert_rows_are_the_trace_lines(chart, lines)
    segs = {(a["label"], socket_of(chart, a["from_lane"]), socket_of(chart, a["to_lane"]))
            for a in chart.arrows if a["kind"] == "seg"}
    client, server = "C2", "L"   # the connection's server side is on its listener's lane until accepted
    assert {("SYN", client, server), ("SYN,ACK", server, client), ("ACK", client, server),
            ("data (5 bytes)", client, server)} <= segs
    for a in chart.arrows:
        if a["kind"] == "seg":
            assert int(a["from_row"]) <= int(a["to_row"]), a   # from the step that sent it to a later one


def test_a_counterexample_chart_says_end_of_stream_only_for_a_recv_that_read_0(tmp_path):
    from tcpconform.properties import catalog, runs
    p = catalog.BY_NAME["eof_only_after_fin"]
    run = _stored("counterexample-eof_only_after_fin")
    result = {"property": p.name, "mutant": p.mutant, "method": "stored run",
              "counterexample": runs.rows(run), "_run": run}
    chart, lines = _drawn_and_written(result, tmp_path)
    _assert_rows_are_the_trace_lines(chart, lines)
    recv = [e for e in lines if e.get("op") == "recv"]
    assert recv and recv[-1]["n"] == 0
    labels = [b["label"] for b in chart.boxes]
    assert any(f"recv({recv[-1]['len']}) → 0 (end of stream)" in x for x in labels)
    marked = [b for b in chart.boxes if b["kind"] == "error"]
    assert marked and "fails" in chart.gutter[int(marked[-1]["row"])]


def test_a_run_of_the_pair_draws_its_crossing_syns(tmp_path):
    run = _stored("simultaneous_open_pair")
    result = {"witness": "simultaneous_open_pair", "origin": "R9293 Figure 8", "method": "stored run",
              "run": [], "_run": run}
    chart, lines = _drawn_and_written(result, tmp_path)
    _assert_rows_are_the_trace_lines(chart, lines)
    segs = [(a["label"], socket_of(chart, a["from_lane"]), socket_of(chart, a["to_lane"]))
            for a in chart.arrows if a["kind"] == "seg"]
    assert sorted(segs) == sorted([("SYN", "P", "Q"), ("SYN", "Q", "P"), ("SYN,ACK", "P", "Q"),
                                   ("SYN,ACK", "Q", "P")])


# --------------------------------------------------------------------------
# 2. Recorded traces
def test_a_recorded_trace_draws_changes_of_state_and_its_captured_segments():
    _, events = read_trace(LIFECYCLE.open("rb"))
    events = list(events)
    chart = read_chart(render.sequence_from_trace(events))
    # a state only when it changed: never the same state twice running on one lane
    last: dict[str, str] = {}
    for box in sorted((b for b in chart.boxes if b["kind"] == "state"), key=lambda b: int(b["row"])):
        assert last.get(box["lane"]) != box["label"], box
        last[box["lane"]] = box["label"]
    changes, known = 0, {}
    for e in events:
        if getattr(e, "op", None) == "socket":
            known[e.sock] = "CLOSED"     # what socket() makes: a state event saying so is no change
        elif hasattr(e, "state") and known.get(e.sock) != e.state:
            known[e.sock] = e.state
            changes += 1
    assert len([b for b in chart.boxes if b["kind"] == "state"]) == changes
    # every captured segment, between the sockets that sent and received it
    packets = [e for e in events if getattr(e, "ev", None) == "x-packet"]
    segs = [(a["label"], socket_of(chart, a["from_lane"]), socket_of(chart, a["to_lane"]))
            for a in chart.arrows if a["kind"] == "seg"]
    assert len(segs) == len(packets)
    assert segs[:3] == [("SYN", "c", "L"), ("SYN+ACK", "L", "c"), ("ACK", "c", "L")]
    assert ("PSH+ACK, 12 bytes", "c", "s") in segs and ("FIN+ACK", "s", "c") in segs
    # rows: one per call, per captured segment, per moment of changes
    assert len(chart.gutter) < len([e for e in events if hasattr(e, "sock")])


def test_every_line_of_a_trace_finds_its_row():
    """A row's note says the lines it draws and those it stands for (a state
    repeated, drawn nowhere): together, every line of the trace once; with
    ``every_line`` each call and state event has a row of its own."""
    _, events = read_trace(LIFECYCLE.open("rb"))
    events = list(events)
    nodes, _ = parse_dot(render.sequence_from_trace(events))
    covers = [int(x) for n, a in nodes.items() if re.fullmatch(r"g\d+", n) for x in a["covers"].split()]
    assert covers == list(range(covers[0], events[-1].line + 1))
    nodes, _ = parse_dot(render.sequence_from_trace(events, every_line=True))
    rows = [a["lines"] for n, a in nodes.items() if re.fullmatch(r"g\d+", n)]
    assert [str(e.line) for e in events if hasattr(e, "sock")] == \
        [r for r in rows if int(r) in {e.line for e in events if hasattr(e, "sock")}]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' not installed")
def test_a_recorded_lifecycle_is_drawn_in_less_height():
    """2,655 pt of SVG (3,539 px of PNG) when every state line was drawn; 1,482 pt now."""
    _, events = read_trace(LIFECYCLE.open("rb"))
    svg = subprocess.run(["dot", "-Tsvg"], input=render.sequence_from_trace(list(events)),
                         capture_output=True, text=True, check=True).stdout
    height = float(re.search(r'<svg width="[\d.]+pt" height="([\d.]+)pt"', svg).group(1))
    assert height < 1600, height


# --------------------------------------------------------------------------
# 3. The state diagram and RFC 9293 Figure 5
def test_figure_5_is_the_rfcs_twenty_arcs():
    from tcpconform.diagrams import figure5
    assert len(figure5.ARCS) == 20 == len(figure5.PAIRS)
    assert {s for a in figure5.ARCS for s in (a.src, a.dst)} == set(vocab.STATES)
    # what Figure 5's note 2 says it leaves out is not one of its arcs
    assert ("FIN_WAIT_1", "TIME_WAIT") not in figure5.PAIRS


def test_only_figure_5_arcs_are_drawn_in_the_rfcs_style():
    from tcpconform.diagrams import figure5
    nodes, edges = parse_dot(render.states_diagram())
    legend = html.unescape(nodes["legend"]["label"])
    declared = {c.id: c.fig5 for c in rules.CASES}
    drawn = [a for _t, _h, a in edges if "cases" in a]
    for a in drawn:
        pair = (a["src_state"], a["dst_state"])
        is_fig5 = pair in figure5.PAIRS and any(pair in declared[c] for c in a["cases"].split())
        assert a["figure5"] == ("yes" if is_fig5 else "no"), a
        if is_fig5:
            assert a.get("style") in (None, "dotted"), a      # solid (dotted: no sockets API call takes it)
        elif a["arc_class"] != "abort":
            assert a.get("style") == "dashed", a
    yes = {(a["src_state"], a["dst_state"]) for a in drawn if a["figure5"] == "yes"}
    for pair in graph.MAIN_PAIRS:
        assert pair in yes, pair
    not_fig5 = [a for a in drawn if (a["src_state"], a["dst_state"]) == ("TIME_WAIT", "SYN_SENT")]
    assert not_fig5 and all(a["figure5"] == "no" and a["style"] == "dashed" for a in not_fig5)
    assert "not in RFC 9293 Figure 5 (Linux)" in legend
    # the legend lists the kinds of arrow drawn, and only those
    assert {a["arc_class"] for a in drawn} == {c for c, t in render.LEGEND if t in legend}


def test_no_two_arrows_into_one_box_say_the_same():
    _, edges = parse_dot(render.states_diagram())
    seen: dict[tuple[str, str], dict] = {}
    for tail, head, a in edges:
        if "cases" not in a or "label" not in a:
            continue
        into = tail if a.get("dir") == "back" else head
        assert (into, a["label"]) not in seen, (a, seen.get((into, a["label"])))
        seen[(into, a["label"])] = a


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' not installed")
def test_the_labels_into_the_bottom_closed_box_do_not_overlap():
    laid = json.loads(subprocess.run(["dot", "-Tjson"], input=render.states_diagram(), capture_output=True,
                                     text=True, check=True).stdout)
    name = {o["_gvid"]: o["name"] for o in laid["objects"]}
    boxes = []
    for e in laid["edges"]:
        if name[e["head"]] != "CLOSED_end" or "_ldraw_" not in e:
            continue
        size, xs, ys = 10.0, [], []
        for op in e["_ldraw_"]:
            size = op.get("size", size)
            if op["op"] == "T":
                x, y = op["pt"]
                left = x - op["width"] / 2 if op["align"] == "c" else x if op["align"] == "l" else x - op["width"]
                xs += [left, left + op["width"]]
                ys += [y - 2, y + size]
        boxes.append((e["label"], (min(xs), min(ys), max(xs), max(ys))))
    assert len(boxes) >= 4
    for i, (la, a) in enumerate(boxes):
        for lb, b in boxes[i + 1:]:
            assert la != lb
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (la, lb)


# --------------------------------------------------------------------------
# 4. The call table
_CELL = re.compile(r'<TD BGCOLOR="(#[0-9a-f]{6})" PORT="([A-Z_0-9]+)_(\w+)">(.*?)</TD>')
_KEY = re.compile(r'<TD BGCOLOR="(#[0-9a-f]{6})" PORT="key_\w+">(?:<FONT[^>]*>)?(.*?)(?:</FONT>)?</TD>')


def _outcomes(cell: str) -> list[bool]:
    """Whether each outcome a cell names is a success (a byte count, ok) or an errno;
    ``blocks, then`` introduces what the call returns on waking."""
    text = re.sub(r"<BR/>", " / ", cell).replace("blocks, then", "").replace("&le;", "≤")
    parts = [p.strip() for p in text.split("/") if p.strip() and p.strip() != "blocks"]
    return [not re.fullmatch(r"E[A-Z]+", p) for p in parts]


def test_the_call_tables_legend_is_its_cells_colours():
    label = parse_dot(render.calls_dot())[0]["calls"]["label"]
    cells = _CELL.findall(label)
    keys = {colour: text for colour, text in _KEY.findall(label)}
    assert len(cells) > 100 and len(keys) == 3
    assert {c for c, *_ in cells} == set(keys)
    for colour, st, op, text in cells:
        oks = _outcomes(text)
        meaning = keys[colour]
        if all(oks):
            assert meaning.startswith("only succeeds"), (st, op, text, meaning)
        elif not any(oks):
            assert meaning == "only fails", (st, op, text, meaning)
        else:
            assert meaning.startswith("succeeds or fails"), (st, op, text, meaning)


def _cells(dot: str) -> dict[tuple[str, str], str]:
    """(state, call) -> the cell's text, one outcome a line."""
    label = parse_dot(dot)[0]["calls"]["label"]
    return {(st, op): html.unescape(text.replace("<BR/>", "\n")) for _c, st, op, text in _CELL.findall(label)}


def test_a_blocking_call_says_what_it_returns_when_it_wakes():
    cells = _cells(render.calls_dot())
    connect = cells["CLOSED", "connect"]
    assert "EINPROGRESS" in connect and "blocks, then" in connect
    assert {"ok", "ECONNREFUSED", "ETIMEDOUT"} <= set(re.split(r"[\s/,]+", connect.split("blocks, then", 1)[1]))
    assert "0 (end of stream)" in cells["CLOSE_WAIT", "recv"]
    assert "0 (end of stream)" not in cells["ESTABLISHED", "recv"].split("blocks, then")[0]


@pytest.mark.slow
def test_what_a_woken_call_returns_is_read_from_the_rule_table():
    """Without the rule of the SYN retries running out, a connect no longer wakes to ETIMEDOUT."""
    fewer = tuple(c for c in rules.CASES if c.id != "syn_giveup")
    connect = _cells(render.calls_dot(cases=fewer))["CLOSED", "connect"]
    assert "ECONNREFUSED" in connect and "ETIMEDOUT" not in connect


# --------------------------------------------------------------------------
# 5. The coverage overlay
def _refused_connect() -> Trace:
    """A connect that returns ok to a port nobody listens on: the model diverges at connect.start."""
    return (Trace().call("srv", "socket").call("srv", "bind", addr="127.0.0.1:0", local="127.0.0.1:45000")
            .call("srv", "listen", backlog=16).state("srv", "LISTEN").call("c", "socket")
            .call("c", "connect", addr="127.0.0.1:45099", local="127.0.0.1:40000"))


def test_the_rule_a_trace_diverged_at_is_drawn_red(capsys):
    verdict = check_trace(*_refused_connect().read(), coverage=True)
    assert verdict.verdict == "diverges"
    bad = render.divergent_rules(verdict)
    assert "connect.start" in bad
    nodes, edges = parse_dot(render.coverage_overlay(verdict.coverage, divergent_case=bad))
    red = [a for _t, _h, a in edges if a.get("color") == render.C_RED and "cases" in a]
    # connect.start moves CLOSED and TIME_WAIT to SYN_SENT: which one, the verdict does not say
    assert sorted((a["src_state"], a["dst_state"], a["style"]) for a in red) == \
        [("CLOSED", "SYN_SENT", "dashed"), ("TIME_WAIT", "SYN_SENT", "dashed")]
    assert "where the trace diverged" in nodes["legend"]["label"]
    _, edges = parse_dot(render.coverage_overlay(verdict.coverage, divergent_case=("connect.start", "CLOSED")))
    assert [(a["src_state"], a["dst_state"], a["style"]) for _t, _h, a in edges
            if a.get("color") == render.C_RED and "cases" in a] == [("CLOSED", "SYN_SENT", "solid")]
    assert render.divergent_rules(check_trace(*Trace().call("c", "socket").read())) is None


def test_without_a_divergence_the_overlay_promises_no_red():
    nodes, edges = parse_dot(render.coverage_overlay({"listen.ok": 1, "connect.start": 2}))
    assert not [a for _t, _h, a in edges if a.get("color") == render.C_RED]
    assert "diverged" not in nodes["legend"]["label"]


def test_the_overlay_counts_rules_as_conform_run_does():
    """The overlay's "N of M rules of the linux profile" is what `conform run`
    prints for the same rules used."""
    from tcpconform.live.run import coverage_of
    used = {("listen.ok", "CLOSED"): 3, ("bind.ok", "CLOSED"): 1, ("rfc.listen.send", "LISTEN"): 1}
    dot = render.coverage_overlay({k: n for (k, _), n in used.items()})
    title = re.search(r'label="(Rules exercised[^"]*)"', dot).group(1)
    run = coverage_of(used)
    assert f"{run.rules_exercised} of {run.rules_total} rules of the linux profile" in title
    assert run.rules_exercised == 2 and run.rules_total == len(rules.of_profile("linux")) < len(rules.CASES)