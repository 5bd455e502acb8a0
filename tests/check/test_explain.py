"""The netstat-table writer of tcpconform.check.explain (the one the recorder,
``conform run --explain`` and the proofs' step tables share), and an
explanation of a trace built with the shared driver."""

from __future__ import annotations

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
