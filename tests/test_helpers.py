"""The shared test helpers (tests/helpers.py) say what they claim: a test
that leans on them must not pass because a helper checks nothing."""

from __future__ import annotations

import pytest

from tcpconform.check.trace import Call, Header, State
from tests.helpers import CLIENT_PORT, LISTEN_PORT, Trace, call, client_and_server, state


def test_client_and_server_opens_one_connection():
    t = client_and_server()
    header, events = t.read()
    assert header == Header()
    assert [(e.sock, getattr(e, "op", None) or e.state) for e in events] == [
        ("L", "socket"), ("L", "bind"), ("L", "listen"), ("L", "LISTEN"), ("c", "socket"), ("c", "CLOSED"),
        ("c", "connect"), ("c", "ESTABLISHED"), ("L", "accept")]
    assert events[-1] == Call(10, "L", "accept", "ok", local=("127.0.0.1", LISTEN_PORT),
                              peer=("127.0.0.1", CLIENT_PORT), new="s")
    assert t.last == 10 and t.conforms().verdict == "conforms"


def test_a_test_states_only_what_it_is_about():
    t = client_and_server().call("c", "send", len=5, n=5).call("s", "recv", len=8, n=5)
    assert t.conforms().events == 11
    t.call("s", "recv", len=8, n=1)   # more than was sent
    v = t.diverges()
    assert v.line == 13 and v.allowed


def test_the_verdict_helpers_fail_when_the_verdict_is_another():
    t = client_and_server()
    with pytest.raises(AssertionError, match="expected a divergence at line 10"):
        t.diverges()
    t.call("L", "send", len=1, n=1)   # a listener carries no data
    with pytest.raises(AssertionError, match="diverges at line 11"):
        t.conforms()
    with pytest.raises(AssertionError):
        t.diverges(at=10)
    with pytest.raises(pytest.fail.Exception):
        t.error()   # the trace reads: no TraceError to return


def test_client_and_server_options():
    t = client_and_server(nonblock=True, accept=False, backlog=0, profile="posix", meta={"k": 1})
    assert t.objects[0] == {"trace": 1, "profile": "posix", "meta": {"k": 1}}
    assert t.objects[5] == call("c", "socket", nonblock=True)
    assert t.objects[7]["ret"] == "EINPROGRESS" and not any(o.get("op") == "accept" for o in t.objects)
    t.call("L", "accept", new="late", local="127.0.0.1:5000", peer="127.0.0.1:40000")
    t.conforms()


def test_client_and_server_refuses_a_start_the_model_does_not_explain():
    with pytest.raises(AssertionError, match="diverges"):
        client_and_server(listen_port=5000, client_port=5000)


def test_raw_lines_and_objects_keep_their_line_numbers():
    t = Trace().call("s", "socket").add('{"ev": "call", "sock": "s"', state("s", "CLOSED"))
    assert t.lines()[2] == '{"ev": "call", "sock": "s"' and t.last == 4
    assert t.error().line == 3
    with pytest.raises(TypeError):
        t.objects
    again = Trace.from_text(Trace(profile="linux").call("s", "socket").state("s", "CLOSED").text())
    assert again.read()[1] == [Call(2, "s", "socket", "ok"), State(3, "s", "CLOSED")]
    assert Trace.of(again.objects).text() == again.text() and again.copy().items is not again.items


def test_a_header_given_whole_or_as_fields():
    e = Trace('{"trace": 3}').error()
    assert (e.line, e.field) == (1, "trace")
    with pytest.raises(TypeError):
        Trace({"trace": 1}, profile="linux")
