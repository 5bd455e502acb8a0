"""The netstat-table writer of tcpconform.check.explain (the one the recorder,
``conform run --explain`` and the proofs' step tables share), an
explanation of a trace built with the shared driver, and which of several
configurations an explanation shows, what its line numbers and its count of
events refer to (the traces of tests/traces/explain)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.check.explain import (
    COLUMNS, NETSTAT_FIELDS, aligned, explained, netstat_addr, netstat_cells, netstat_event, netstat_table,
)
from tests.helpers import client_and_server

ROW = {"sock": "c", "state": "ESTABLISHED", "recvq": 12, "sendq": 0, "local": "127.0.0.1:40000",
       "foreign": "127.0.0.1:5000"}


def test_addresses_as_netstat_shows_them():
    assert netstat_addr(("127.0.0.1", 5000)) == "127.0.0.1:5000"
    assert netstat_addr(("::1", 5000)) == "[::1]:5000"
    assert netstat_addr(("127.0.0.1", -1)) == "127.0.0.1:?"   # a port the model does not know yet
    assert netstat_addr(None) == "0.0.0.0:*"
    assert netstat_addr(None, listener=True) == "*:*"


def test_cells_of_a_row():
    assert netstat_cells(ROW) == ["tcp", "12", "0", "127.0.0.1:40000", "127.0.0.1:5000", "ESTABLISHED"]
    assert netstat_cells(dict(ROW, recvq=None, note="in accept queue"))[1::4] == ["?", "ESTABLISHED (in accept queue)"]
    assert netstat_cells({"gone": True}) == ["tcp", "-", "-", "-", "-", "CLOSED (gone)"]
    assert netstat_cells(None) == [""] * len(COLUMNS)


def test_tables_are_aligned():
    assert aligned([["a", "1"], ["bbb", "22"]], right={1}) == ["  a     1", "  bbb  22"]
    assert aligned([["a", "1"], ["bbb", "22"]]) == ["  a    1", "  bbb  22"]
    lines = netstat_table([("c", ROW), ("listener", dict(ROW, recvq=3, sendq=10))])
    assert lines == [
        "  sock      Proto  Recv-Q  Send-Q  Local Address    Foreign Address  State",
        "  c         tcp        12       0  127.0.0.1:40000  127.0.0.1:5000   ESTABLISHED",
        "  listener  tcp         3      10  127.0.0.1:40000  127.0.0.1:5000   ESTABLISHED"]
    left = netstat_table([("c", ROW)], queues_right=False)
    assert left[1] == "  c     tcp    12      0       127.0.0.1:40000  127.0.0.1:5000   ESTABLISHED"
    assert all(line == line.rstrip() for line in lines + left)


def test_netstat_event_keeps_the_fields_of_a_row_in_order():
    ev = netstat_event([dict(ROW, slot="C1", note="")], step=3)
    assert list(ev) == ["ev", "step", "rows"] and ev["ev"] == "x-netstat"
    assert tuple(ev["rows"][0]) == NETSTAT_FIELDS


def test_an_explained_trace_shows_the_models_table_after_each_call():
    t = client_and_server().call("c", "send", len=5, n=5)
    got = explained(t.text())
    steps = got["explain"]
    assert [s["line"] for s in steps] == [2, 3, 4, 6, 8, 10, 11]
    last = {r["key"]: r for r in steps[-1]["model"]}
    assert last["c"]["state"] == "ESTABLISHED" and last["s"]["recvq"] + last["c"]["sendq"] == 5
    text = got["explain_text"]
    assert "line 8: c connect(addr=127.0.0.1:5000) -> ok local=127.0.0.1:40000" in text
    assert "kernel (not recorded)" in text   # the trace has no x-netstat events
    t.call("L", "send", len=1, n=1)
    assert explained(t.text())["explain"][-1]["verdict"] == "diverges"


# ---------------------------------------------------------------------------
# Which configuration is shown, what its lines number, what it counts
# ---------------------------------------------------------------------------

EXPLAINED = Path(__file__).resolve().parents[1] / "traces" / "explain"


def _step(steps: list[dict], line: int) -> dict:
    return next(s for s in steps if s["line"] == line)


def test_of_several_configurations_the_one_in_the_kernels_states_is_shown():
    """After the client's connect returns, the model allows two configurations: the
    server's child still in SYN_RECEIVED (the client's ACK in flight), or established
    and queued.  The kernel's snapshot shows the first: so does the model's table."""
    got = explained((EXPLAINED / "kernel-before-the-ack.jsonl").read_text())
    step = _step(got["explain"], 17)
    assert step["configurations"] == 2
    model = {r["key"]: r for r in step["model"]}
    assert model["(127.0.0.1:10061>127.0.0.1:10008)"]["state"] == "SYN_RECEIVED"
    assert model["L"]["recvq"] == 0                                    # nothing in the accept queue yet
    table = got["explain_text"].split("line 17:")[1]
    assert "the one in the kernel's states shown" in table
    assert not re.search(r"^\s+[~*]", table, re.M)                     # no row marked as differing


def test_the_kernels_x_state_changes_choose_when_there_is_no_snapshot():
    from tcpconform.check.explain import kernel_match
    from tcpconform.model import system
    from tcpconform.model.semantics import INITIAL
    fw1 = system.Config((("c", system.Ep(INITIAL._replace(st="FIN_WAIT_1"))),), ())
    fw2 = system.Config((("c", system.Ep(INITIAL._replace(st="FIN_WAIT_2"))),), ())
    score = kernel_match(None, {"c": "FIN_WAIT_2"}, "linux")
    assert score(fw2) > score(fw1)
    assert kernel_match(None, {}, "linux") is None                     # nothing known: the fixed order


def test_line_numbers_are_those_of_the_trace_explained_and_it_is_named():
    path = EXPLAINED / "lifecycle-client-closes.jsonl"
    lines = path.read_text().splitlines()
    got = explained(path.read_text(), source=str(path))
    assert got["explain_text"].startswith(f"lines of {path}\n")
    for step in got["explain"]:
        assert step["call"] == json.loads(lines[step["line"] - 1])     # the line of that file


@pytest.mark.parametrize("name", ["lifecycle-client-closes.jsonl", "kernel-before-the-ack.jsonl"])
def test_the_explanation_counts_the_events_the_check_counts(name):
    """The trace recorded by ``conform run --explain`` has 93 lines after its header (78
    without its 15 x-netstat snapshots); the check explains 54 call and state events,
    and so says the explanation."""
    text = (EXPLAINED / name).read_text()
    header, events = read_trace(io.BytesIO(text.encode()))
    v = check_trace(header, events)
    last = explained(text)["explain"][-1]["detail"][-1]
    assert last.startswith(f"conforms: {v.events} events explained")
    assert f"{len(text.splitlines()) - 1} lines after its header" in last
    if name.startswith("lifecycle"):
        assert (v.events, len(text.splitlines()) - 1) == (54, 93)


def test_a_divergence_is_explained_as_conform_check_words_it():
    from tcpconform.check.verdict import divergence_lines
    text = (Path(__file__).resolve().parents[1] / "traces" / "divergences" / "recv-more-than-sent.jsonl").read_text()
    header, events = read_trace(io.BytesIO(text.encode()))
    v = check_trace(header, events)
    last = explained(text)["explain"][-1]
    assert last["detail"] == divergence_lines(v, text.splitlines()[v.line - 1])
    assert any("12 sent by cli, 8 read" in d for d in last["detail"])
