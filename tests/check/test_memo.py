"""The memoised engine (tcpconform.check.memo) gives the plain engine's answers.

Generated traces: several connections to one or two listeners, interleaved,
with varied data sizes, partial reads, both close orders, shutdown, abortive
close, observed states or none, and ports used again (in an open world at
most OPEN_WORLD_MOST connections); then, for many of them, one event
changed, dropped or repeated, so that they diverge at varied depths.  The
memoised and the plain engine must agree on the verdict, the line, the
reason, the "allowed" list and the event count.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpconform.check import memo
from tcpconform.check.search import check_trace
from tcpconform.check.trace import TraceError, read_trace
from tests.helpers import load_benchmark

HOST = "127.0.0.1"
memo.STRICT = True  # a fault of the memoised search fails the test, not falls back


def call(sock, op, ret="ok", **kw):
    return {"ev": "call", "sock": sock, "op": op, "ret": ret, **kw}


def state(sock, st_):
    return {"ev": "state", "sock": sock, "state": st_}


def text(lines, **header) -> bytes:
    return ("\n".join(json.dumps(x) for x in [{"trace": 1, **header}] + lines) + "\n").encode()


def both(data: bytes):
    out = []
    for fast in (False, True):
        try:
            h, evs = read_trace(io.BytesIO(data))
            v = check_trace(h, evs, fast=fast)
        except TraceError as e:  # a mutant may be unusable: the same error both ways
            out.append(("invalid", str(e)))
            continue
        out.append((v.verdict, v.line, v.reason, v.allowed, v.events))
    return out


@st.composite
def connection(draw, k: int, listener: str, lport: int, cport: int):
    """The events of one connection, as blocks that must stay together."""
    c, s = f"c{k}", f"s{k}"
    server, client = f"{HOST}:{lport}", f"{HOST}:{cport}"
    blocks = []
    if draw(st.booleans()):
        blocks.append([call(c, "socket", nonblock=True),
                       call(c, "connect", "EINPROGRESS", addr=server, local=client),
                       state(c, "ESTABLISHED"),
                       call(listener, "accept", new=s, local=server, peer=client)])
    else:
        blocks.append([call(c, "socket"), call(c, "connect", addr=server, local=client),
                       call(listener, "accept", new=s, local=server, peer=client)])
    for _ in range(draw(st.integers(0, 2))):
        a, b = draw(st.sampled_from([(c, s), (s, c)]))
        size = draw(st.integers(1, 40))
        blocks.append([call(a, "send", len=size, n=size)])
        first = draw(st.integers(1, size))
        reads = [first] if first == size else [first, size - first]
        for n in reads:
            blocks.append([call(b, "recv", len=draw(st.integers(n, n + 10)), n=n)])
    first, second = draw(st.sampled_from([(c, s), (s, c)]))
    ending = draw(st.sampled_from(["close", "shutdown", "abort"]))
    if ending == "abort":
        blocks.append([call(first, "close", linger0=True)])
        blocks.append([call(second, "recv", "ECONNRESET", len=5)])
        blocks.append([call(second, "close")])
        return blocks
    if ending == "shutdown":
        blocks.append([call(first, "shutdown", how="wr")])
        blocks.append([call(second, "recv", len=5, n=0)])
        blocks.append([call(second, "send", len=3, n=3)])
        blocks.append([call(first, "recv", len=5, n=3)])
    blocks.append([call(first, "close")])
    if ending != "shutdown":
        blocks.append([call(second, "recv", len=10, n=0)])
    blocks.append([call(second, "close")])
    if draw(st.booleans()):
        blocks.append([state(first, "TIME_WAIT")])
        if draw(st.booleans()):
            blocks.append([state(second, "CLOSED"), state(first, "CLOSED")])
    return blocks


@st.composite
def traces(draw, most: int = 6):
    """Up to ``most`` connections to one or two listeners, their blocks interleaved."""
    listeners = [("L", 5000)] + ([("M", 6000)] if draw(st.booleans()) else [])
    lines = []
    for name, port in listeners:
        lines += [call(name, "socket"), call(name, "bind", addr=f"{HOST}:{port}", local=f"{HOST}:{port}"),
                  call(name, "listen", backlog=draw(st.integers(0, 8)))]
    ports = [20000 + i for i in range(draw(st.integers(1, 6)))]
    conns = []
    for k in range(draw(st.integers(1, most))):
        listener, lport = draw(st.sampled_from(listeners))
        conns.append(draw(connection(k, listener, lport, draw(st.sampled_from(ports)))))
    # interleave the connections' blocks, each connection in its own order
    while any(conns):
        live = [b for b in conns if b]
        blocks = draw(st.sampled_from(live))
        lines += blocks.pop(0)
    if draw(st.booleans()):
        lines.append(call("L", "close"))
    return lines


@st.composite
def mutated(draw, most: int = 6):
    lines = draw(traces(most))
    how = draw(st.sampled_from(["none", "none", "ret", "n", "state", "drop", "repeat"]))
    if how == "none":
        return lines
    i = draw(st.integers(0, len(lines) - 1))
    ev = dict(lines[i])
    if how == "drop":
        return lines[:i] + lines[i + 1:]
    if how == "repeat":
        return lines[:i + 1] + [ev] + lines[i + 1:]
    if how == "state":
        return lines[:i] + [state(ev["sock"], draw(st.sampled_from(
            ["CLOSED", "ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT_2", "LAST_ACK"])))] + lines[i:]
    if ev["ev"] == "call" and how == "n" and "n" in ev:
        ev["n"] = draw(st.integers(0, ev["len"]))
    elif ev["ev"] == "call":
        ev["ret"] = draw(st.sampled_from(["EAGAIN", "EPIPE", "ENOTCONN", "ECONNRESET", "EINVAL"]))
        for key in ("n", "local", "peer", "new"):
            ev.pop(key, None)
    return lines[:i] + [ev] + lines[i + 1:]


OPEN_WORLD_MOST = 3
"""Connections in an open-world trace.  There every connection whose peer is
gone leaves the segments an outside peer may still send in flight, and the
configurations multiply with each such connection: a draw of five or six took
minutes in the plain search (each of up to ten thousand configurations closed
again while a blocking recv sleeps); three keep every draw to seconds."""


@pytest.mark.slow   # measured above 5 s (pytest --durations)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_memoised_and_plain_search_agree(lines):
    plain, fast = both(text(lines))
    assert fast == plain


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(most=OPEN_WORLD_MOST))
def test_memoised_and_plain_search_agree_in_an_open_world(lines):
    plain, fast = both(text(lines, world="open"))
    assert fast == plain


def test_the_fast_path_is_on():
    # a field added to the model's configurations or to the trace's events
    # must be given a role in tcpconform/check/memo.py (else it stays off)
    assert memo.unknown_fields() == []
    assert memo.ENABLED


def test_state_grows_with_live_sockets_and_the_table_is_bounded(monkeypatch):
    monkeypatch.setattr(memo, "CACHE_MAX", 50)
    monkeypatch.setattr(memo, "_CACHES", {})
    lines = [call("L", "socket"), call("L", "bind", addr=f"{HOST}:5000", local=f"{HOST}:5000"),
             call("L", "listen", backlog=8)]
    for i in range(300):
        c, s, port = f"c{i}", f"s{i}", 20000 + i
        lines += [call(c, "socket"), call(c, "connect", addr=f"{HOST}:5000", local=f"{HOST}:{port}"),
                  call("L", "accept", new=s, local=f"{HOST}:5000", peer=f"{HOST}:{port}"),
                  call(c, "send", len=10, n=10), call(s, "recv", len=10, n=10),
                  call(c, "close"), call(s, "recv", len=10, n=0), call(s, "close")]
    ch = memo.MemoSearch()
    _h, evs = read_trace(io.BytesIO(text(lines)))
    for ev in evs:
        assert ch.feed(ev) is None
        assert len(ch.frontier) <= 8
        assert len(ch._f.sig) <= 12          # the renaming holds live names and ports only
        assert len(ch.cache) <= 50
    assert ch._plain is None
    # each past connection is parked in TIME_WAIT, nothing else
    assert all(len(p.sig) <= 4 for p in ch._parked.values())


def _bench():
    return load_benchmark("bench_check")


@pytest.mark.slow   # measured above 5 s (pytest --durations)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 1500), st.sampled_from(["none", "ret", "n", "drop", "state"]))
def test_memoised_and_plain_search_agree_on_the_mixed_benchmark_trace(seed, at, how):
    """The benchmark's interleaved connections (data of random sizes, the
    table rested and resumed), whole or with one event changed."""
    lines = [json.loads(x) for x in _bench().generate_mixed(1500, seed=seed)]
    header, events = lines[0], lines[1:]
    at = min(at, len(events) - 1)
    ev = dict(events[at])
    if how == "drop":
        events = events[:at] + events[at + 1:]
    elif how == "state":
        events = events[:at] + [state(ev["sock"], "CLOSE_WAIT")] + events[at:]
    elif how != "none" and ev["ev"] == "call":
        if how == "n" and "n" in ev:
            ev["n"] = max(0, ev["n"] - 1)
        else:
            ev["ret"] = "EPIPE"
            for key in ("n", "local", "peer", "new"):
                ev.pop(key, None)
        events = events[:at] + [ev] + events[at + 1:]
    data = ("\n".join(json.dumps(x) for x in [header] + events) + "\n").encode()
    window, rest = memo.WINDOW, memo.REST
    memo.WINDOW, memo.REST = 16, 40  # rest and resume often
    try:
        plain, fast = both(data)
    finally:
        memo.WINDOW, memo.REST = window, rest
    assert fast == plain
