"""Unit tests of tcpconform.check.trace: what is accepted, and every kind of error with its line."""

from __future__ import annotations

import io

import pytest

from tcpconform.check.trace import (
    CALL_ARGS, ERRNOS, MAX_LINE_BYTES, OPS, STATES, Call, Extension, Header, State, TraceError, call_event, event_line,
    format_addr, parse_addr, read_trace, state_event, trace_header, trace_text,
)
from tests.helpers import Trace, call, state

HEADER = Trace().lines()[0]          # {"trace": 1}
SOCK_S = Trace().call("s", "socket").lines()[1]


def _bytes(lines: Trace | list | str | bytes) -> bytes:
    """The input as bytes: a trace built here, a list of lines or objects (the header first), or text."""
    if isinstance(lines, bytes):
        return lines
    if isinstance(lines, str):
        return lines.encode()
    return (lines if isinstance(lines, Trace) else Trace.of(lines)).data()


def parse(lines: Trace | list | str | bytes) -> tuple[Header, list]:
    header, events = read_trace(io.BytesIO(_bytes(lines)))
    return header, list(events)


def error(lines: Trace | list | str | bytes) -> TraceError:
    with pytest.raises(TraceError) as info:
        parse(lines)
    return info.value


def events_after_socket(*items: dict | str) -> Trace:
    """A header, a socket "s", then ``items`` (the first of them is line 3)."""
    return Trace().call("s", "socket").add(*items)


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

def test_vocabulary():
    assert len(STATES) == 11 and "SYN_RECEIVED" in STATES and "TIME_WAIT" in STATES
    assert set(OPS) == {"socket", "bind", "listen", "connect", "accept", "send", "recv",
                        "shutdown", "close"}
    assert {"EPIPE", "ENOTCONN", "EAGAIN", "EINPROGRESS", "ECONNREFUSED"} <= ERRNOS
    assert isinstance(ERRNOS, frozenset)


def test_trace_error_str_and_attributes():
    e = TraceError(3, "socket 't' used before it was introduced", "sock")
    assert str(e) == "line 3: socket 't' used before it was introduced"
    assert (e.line, e.message, e.field) == (3, "socket 't' used before it was introduced", "sock")


# ---------------------------------------------------------------------------
# Accepted input
# ---------------------------------------------------------------------------

def test_full_lifecycle_parses_into_events():
    header, events = parse(Trace(profile="posix", world="open", meta={"k": [1, 2]}).add(
        call("L", "socket", nonblock=True),
        call("L", "bind", addr="127.0.0.1:0", local="127.0.0.1:45000"),
        call("L", "listen", backlog=-1),
        state("L", "LISTEN"),
        call("c", "socket"),
        call("c", "connect", ret="EINPROGRESS", addr="[::1]:45000", local="[::1]:51000"),
        call("L", "accept", new="a", local="[::1]:45000", peer="[::1]:51000"),
        call("L", "accept", ret="EAGAIN"),
        call("c", "send", len=0, n=0),
        call("c", "send", len=5, n=3),
        call("c", "send", len=5, ret="EPIPE"),
        call("a", "recv", len=8, n=0),
        call("a", "shutdown", how="rdwr"),
        call("a", "close", linger0=True),
        '{"ev": "x-pcap", "anything": {"goes": [1]}, "sock": "nobody"}',
        {**state("a", "CLOSED"), "x-note": 1},
    ))
    assert header == Header(profile="posix", world="open", meta={"k": [1, 2]})
    assert events[0] == Call(2, "L", "socket", "ok", nonblock=True)
    assert events[1].addr == ("127.0.0.1", 0) and events[1].local == ("127.0.0.1", 45000)
    assert events[2].backlog == -1
    assert events[3] == State(5, "L", "LISTEN")
    assert events[5].local == ("::1", 51000) and events[5].ret == "EINPROGRESS"
    assert events[6] == Call(8, "L", "accept", "ok", local=("::1", 45000),
                             peer=("::1", 51000), new="a")
    assert events[8].length == 0 and events[8].n == 0
    assert events[9].length == 5 and events[9].n == 3
    assert events[10].n is None
    assert events[12].how == "rdwr"
    assert events[13].linger0 is True and events[13].nonblock is False
    assert isinstance(events[14], Extension) and events[14].ev == "x-pcap"
    assert events[14].data["anything"] == {"goes": [1]}
    assert events[15] == State(17, "a", "CLOSED")


def test_header_defaults():
    header, events = parse([HEADER])
    assert header == Header() == Header("linux", "closed", {})
    assert events == []


def test_final_line_without_newline_is_accepted():
    _, events = parse((HEADER + "\n" + SOCK_S).encode())
    assert len(events) == 1


def test_crlf_line_endings_are_accepted():
    _, events = parse((HEADER + "\r\n" + SOCK_S + "\r\n").encode())
    assert len(events) == 1


def test_accepts_an_iterable_of_lines():
    header, events = read_trace([HEADER.encode() + b"\n", SOCK_S.encode() + b"\n"])
    assert header.profile == "linux" and len(list(events)) == 1


def test_errno_aliases_are_canonicalised():
    _, events = parse(events_after_socket(call("s", "recv", ret="EWOULDBLOCK", len=4)))
    assert events[1].ret == "EAGAIN"


def test_failed_socket_introduces_nothing():
    e = error([HEADER, call("f", "socket", ret="EMFILE"), call("f", "close")])
    assert e.line == 3 and "'f'" in e.message


def test_names_survive_close():
    _, events = parse(events_after_socket(call("s", "close"), state("s", "CLOSED")))
    assert len(events) == 3


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:40000", ("127.0.0.1", 40000)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:65535", ("::1", 65535)),
    ("[0:0::1]:1", ("::1", 1)),
    ("[::ffff:127.0.0.1]:80", ("127.0.0.1", 80)),  # IPv4-mapped: the IPv4 address it is
])
def test_parse_addr(text, expected):
    assert parse_addr(text) == expected


@pytest.mark.parametrize("text", [
    "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+1",
    "127.0.0.1: 80", "127.0.0.1:08", "256.0.0.1:80", "localhost:80", "::1:80", "[127.0.0.1]:80",
    "[::1:80", "::1]:80", "[::1]", "[]:80", "1.2.3:80", "",
])
def test_parse_addr_rejects(text):
    with pytest.raises(ValueError):
        parse_addr(text)


# ---------------------------------------------------------------------------
# File-level and header errors (line 1)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, words", [
    (b"", "empty file"),
    (b"\n", "blank line"),
    (b"{\"trace\": 1", "invalid JSON"),
    (b"trace 1\n", "invalid JSON"),
    (b"\xff\xfe{}\n", "UTF-8"),
    (b"\xef\xbb\xbf{\"trace\": 1}\n", "byte order mark"),
    (b"[1]\n", "must be a JSON object"),
    (b"1\n", "must be a JSON object"),
    (b"{}\n", "missing field 'trace'"),
    (b"{\"trace\": 3}\n", "integer 1 or 2"),
    (b"{\"trace\": true}\n", "integer 1"),
    (b"{\"trace\": 1.0}\n", "integer 1"),
    (b"{\"trace\": \"1\"}\n", "integer 1"),
    (b"{\"trace\": 1, \"profile\": \"bsd\"}\n", "unknown profile"),
    (b"{\"trace\": 1, \"profile\": null}\n", "unknown profile"),
    (b"{\"trace\": 1, \"world\": \"half\"}\n", "unknown world"),
    (b"{\"trace\": 1, \"meta\": []}\n", "'meta' must be an object"),
    (b"{\"trace\": 1, \"seed\": 3}\n", "unexpected field 'seed'"),
])
def test_header_errors(data, words):
    e = error(data)
    assert e.line == 1
    assert words in e.message
    assert str(e).startswith("line 1: ")


def test_header_fields_reported():
    assert error(b'{"trace": 1, "world": 3}\n').field == "world"
    assert error(b'{"trace": 1, "extra": 3}\n').field == "extra"


def test_header_error_is_raised_eagerly():
    with pytest.raises(TraceError):
        read_trace(io.BytesIO(b"{}\n"))  # no iteration needed


# ---------------------------------------------------------------------------
# Line-level errors (lines 2+)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, line, words", [
    (f"{HEADER}\n\n{SOCK_S}\n", 2, "blank line"),
    (f"{HEADER}\n{SOCK_S}\n\n", 3, "blank line"),
    (f"{HEADER}\n{SOCK_S}\n   \n", 3, "blank line"),
    (f"{HEADER}\n{SOCK_S}\n{{\"ev\": \"call\"", 3, "truncated"),
    (f"{HEADER}\n{SOCK_S[:-5]}\n{SOCK_S}\n", 2, "invalid JSON"),
    (f"{HEADER}\n{SOCK_S} {{}}\n", 2, "invalid JSON"),
    (f"{HEADER}\n{{\"ev\": NaN}}\n", 2, "invalid JSON"),
    (f"{HEADER}\n[\"call\"]\n", 2, "must be a JSON object"),
    (f"{HEADER}\nnull\n", 2, "must be a JSON object"),
    (f"{HEADER}\n{{\"sock\": \"s\"}}\n", 2, "missing field 'ev'"),
    (f"{HEADER}\n{{\"ev\": \"packet\"}}\n", 2, "unknown ev"),
    (f"{HEADER}\n{{\"ev\": 5}}\n", 2, "unknown ev"),
    (f"{HEADER}\n{{\"ev\": \"CALL\"}}\n", 2, "unknown ev"),
])
def test_line_errors(data, line, words):
    e = error(data)
    assert (e.line, words in e.message) == (line, True), str(e)


@pytest.mark.parametrize("garbage", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1b[0m"])
def test_binary_garbage(garbage):
    data = _bytes([HEADER, SOCK_S]) + b'{"ev": "call", "so' + garbage + b'ck": "s"}\n'
    e = error(data)
    assert e.line == 3


def test_invalid_utf8_message():
    e = error(_bytes([HEADER]) + b'{"ev": "x-a", "v": "\xff"}\n')
    assert e.line == 2 and "UTF-8" in e.message


def test_overlong_line():
    data = _bytes([HEADER]) + b'{"ev": "x-a", "pad": "' + b"a" * MAX_LINE_BYTES + b'"}\n'
    e = error(data)
    assert e.line == 2 and "longer" in e.message


def test_errors_are_raised_lazily_at_their_line():
    header, events = read_trace(io.BytesIO(_bytes([HEADER, SOCK_S, "oops"])))
    assert next(events).line == 2
    with pytest.raises(TraceError) as info:
        next(events)
    assert info.value.line == 3


# ---------------------------------------------------------------------------
# Call and state fields
# ---------------------------------------------------------------------------

A = "127.0.0.1:45000"
B = "127.0.0.1:51000"

BAD_EVENTS = [
    # (event on line 3, field blamed, words in message)
    ('{"ev": "call", "op": "close", "ret": "ok"}', "sock", "missing field 'sock'"),
    ('{"ev": "call", "sock": "", "op": "close", "ret": "ok"}', "sock", "non-empty string"),
    ('{"ev": "call", "sock": 1, "op": "close", "ret": "ok"}', "sock", "non-empty string"),
    ('{"ev": "call", "sock": "s", "ret": "ok"}', "op", "missing field 'op'"),
    (call("s", "sendto"), "op", "unknown op"),
    (call("s", "SEND", len=1, n=1), "op", "unknown op"),
    ('{"ev": "call", "sock": "s", "op": ["close"], "ret": "ok"}', "op", "unknown op"),
    ('{"ev": "call", "sock": "s", "op": "close"}', "ret", "missing field 'ret'"),
    (call("s", "close", ret="EFOO"), "ret", "errno"),
    (call("s", "close", ret="OK"), "ret", "errno"),
    (call("s", "close", ret=0), "ret", "errno"),
    (call("s", "close", ret=["EPIPE"]), "ret", "errno"),
    (call("s", "close", ret={"e": 1}), "ret", "errno"),
    (call("s", "close", linger0=1), "linger0", "true or false"),
    (call("s", "close", linger0="true"), "linger0", "true or false"),
    (call("s", "close", flags=3), "flags", "unexpected field 'flags'"),
    (call("s", "close", addr=A), "addr", "unexpected field 'addr'"),
    (call("s", "bind", local=A), "addr", "missing field 'addr'"),
    (call("s", "bind", addr=A), "local", "missing field 'local'"),
    (call("s", "bind", ret="EADDRINUSE", addr=A, local=A), "local", "only allowed when ret is 'ok'"),
    (call("s", "bind", addr="127.0.0.1", local=A), "addr", "IP:PORT"),
    (call("s", "bind", addr=A, local="127.0.0.1:99999"), "local", "IP:PORT"),
    (call("s", "bind", addr=45000, local=A), "addr", "must be a string"),
    (call("s", "listen"), "backlog", "missing field 'backlog'"),
    (call("s", "listen", backlog="16"), "backlog", "integer"),
    (call("s", "listen", backlog=True), "backlog", "integer"),
    (call("s", "listen", backlog=16.0), "backlog", "integer"),
    (call("s", "listen", backlog=None), "backlog", "integer"),
    (call("s", "connect", local=B), "addr", "missing field 'addr'"),
    (call("s", "connect", addr=A), "local", "missing field 'local'"),
    (call("s", "connect", ret="EINPROGRESS", addr=A), "local", "missing field 'local'"),
    (call("s", "connect", ret="ECONNREFUSED", addr=A, local=B), "local", "only allowed when ret is"),
    (call("s", "connect", addr="[127.0.0.1]:1", local=B), "addr", "IP"),
    (call("s", "accept", local=A, peer=B), "new", "missing field 'new'"),
    (call("s", "accept", new="a", peer=B), "local", "missing field 'local'"),
    (call("s", "accept", new="a", local=A), "peer", "missing field 'peer'"),
    (call("s", "accept", new="", local=A, peer=B), "new", "non-empty string"),
    (call("s", "accept", new=7, local=A, peer=B), "new", "non-empty string"),
    (call("s", "accept", ret="EAGAIN", new="a"), "new", "only allowed when ret is 'ok'"),
    (call("s", "accept", new="a", local=A, peer=B, addr=A), "addr", "unexpected field"),
    (call("s", "send", n=1), "len", "missing field 'len'"),
    (call("s", "send", len=5), "n", "missing field 'n'"),
    (call("s", "send", len=-1, ret="EPIPE"), "len", ">= 0"),
    (call("s", "send", len=True, n=1), "len", "integer"),
    (call("s", "send", len=5, n=0), "n", "between 1 and len=5"),
    (call("s", "send", len=5, n=6), "n", "between 1 and len=5"),
    (call("s", "send", len=5, n=2.5), "n", "integer"),
    (call("s", "send", len=5, n="5"), "n", "integer"),
    (call("s", "send", len=5, ret="EPIPE", n=0), "n", "only allowed when ret is 'ok'"),
    (call("s", "recv", len=5), "n", "missing field 'n'"),
    (call("s", "recv", len=5, n=-1), "n", "between 0 and len=5"),
    (call("s", "recv", len=5, n=6), "n", "between 0 and len=5"),
    (call("s", "recv", len=0, n=1), "n", "between 0 and len=0"),
    (call("s", "recv", len="5", n=1), "len", "integer"),
    (call("s", "shutdown"), "how", "missing field 'how'"),
    (call("s", "shutdown", how="both"), "how", "rdwr"),
    (call("s", "shutdown", how="RD"), "how", "rdwr"),
    (call("s", "shutdown", how=1), "how", "rdwr"),
    ('{"ev": "state", "sock": "s"}', "state", "missing field 'state'"),
    ('{"ev": "state", "sock": "s", "state": "OPEN"}', "state", "unknown state"),
    ('{"ev": "state", "sock": "s", "state": "established"}', "state", "unknown state"),
    ('{"ev": "state", "sock": "s", "state": "SYN-SENT"}', "state", "unknown state"),
    ('{"ev": "state", "sock": "s", "state": ["LISTEN"]}', "state", "unknown state"),
    ('{"ev": "state", "state": "LISTEN"}', "sock", "missing field 'sock'"),
    ('{"ev": "state", "sock": "s", "state": "LISTEN", "op": "x"}', "op", "unexpected field 'op'"),
]


@pytest.mark.parametrize("event, field, words", BAD_EVENTS)
def test_bad_event_fields(event, field, words):
    e = error(events_after_socket(call("pad", "socket"), event))
    assert e.line == 4, str(e)
    assert e.field == field, str(e)
    assert words in e.message, str(e)


def test_socket_nonblock_must_be_bool():
    e = error([HEADER, call("s", "socket", nonblock="yes")])
    assert (e.line, e.field) == (2, "nonblock")


def test_x_fields_are_ignored_everywhere():
    _, events = parse(events_after_socket(call("s", "send", len=1, n=1, **{"x-time": 1.5})))
    assert events[1].n == 1


def test_extension_with_non_string_or_missing_fields_is_kept():
    _, events = parse([HEADER, '{"ev": "x-"}', '{"ev": "x-q", "sock": 5}'])
    assert [e.ev for e in events] == ["x-", "x-q"]


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("event", [
    call("t", "close"),
    call("t", "send", len=1, ret="EBADF"),
    call("t", "accept", ret="EINVAL"),
    call("t", "accept", new="u", local=A, peer=B),
    state("t", "CLOSED"),
])
def test_name_used_before_introduced(event):
    e = error(events_after_socket(event))
    assert (e.line, e.field) == (3, "sock")
    assert e.message == "socket 't' used before it was introduced"


def test_name_introduced_twice_by_socket():
    e = error(events_after_socket(call("s", "close"), SOCK_S))
    assert (e.line, e.field) == (4, "sock")
    assert "already introduced at line 2" in e.message


def test_failed_socket_may_not_reuse_a_name():
    e = error(events_after_socket(call("s", "socket", ret="EMFILE")))
    assert (e.line, e.field) == (3, "sock")


def test_failed_socket_name_may_be_introduced_later():
    _, events = parse([HEADER, call("f", "socket", ret="EMFILE"), call("f", "socket")])
    assert len(events) == 2


@pytest.mark.parametrize("new", ["s", "L"])
def test_accept_new_name_must_be_fresh(new):
    e = error([HEADER, SOCK_S, call("L", "socket"), call("L", "accept", new=new, local=A, peer=B)])
    assert (e.line, e.field) == (4, "new")
    assert "already introduced" in e.message


def test_accept_introduces_new_then_socket_cannot_reuse_it():
    _, events = parse(events_after_socket(call("s", "accept", new="a", local=A, peer=B), call("a", "close")))
    assert events[2].sock == "a"
    e = error(events_after_socket(call("s", "accept", new="a", local=A, peer=B), call("a", "socket")))
    assert e.line == 4


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def test_writer_writes_the_formats_examples():
    """The lines of trace-format.md's examples, byte for byte: arguments before ``ret``, results after."""
    assert event_line(trace_header(profile="linux")) == '{"trace": 1, "profile": "linux"}'
    assert event_line(call_event("c", "connect", "ok", {"addr": "127.0.0.1:40000"}, local="127.0.0.1:51234")) == (
        '{"ev": "call", "sock": "c", "op": "connect", "addr": "127.0.0.1:40000", "ret": "ok", "local": "127.0.0.1:51234"}')
    assert event_line(call_event("c", "send", "EPIPE", {"len": 5})) == '{"ev": "call", "sock": "c", "op": "send", "len": 5, "ret": "EPIPE"}'
    assert event_line(state_event("c", "ESTABLISHED")) == '{"ev": "state", "sock": "c", "state": "ESTABLISHED"}'
    # fields given as keywords follow ret (the order the proofs' traces have always had)
    assert list(call_event("c", "bind", "ok", addr="127.0.0.1:0")) == ["ev", "sock", "op", "ret", "addr"]


def test_what_is_written_reads_back():
    header = trace_header(profile="posix", world="open", meta={"scenario": "x"})
    events = [call_event("L", "socket", nonblock=True), call_event("L", "listen", "ok", {"backlog": 2}),
              state_event("L", "LISTEN"), {"ev": "x-note", "text": "é"}]
    text = trace_text(header, events)
    assert text.endswith("\n") and text.count("\n") == 5
    h, evs = read_trace(io.BytesIO(text.encode()))
    assert h == Header("posix", "open", {"scenario": "x"})
    assert list(evs) == [Call(2, "L", "socket", "ok", nonblock=True), Call(3, "L", "listen", "ok", backlog=2),
                         State(4, "L", "LISTEN"), Extension(5, "x-note", events[3])]


def test_the_builder_orders_fields_as_the_format_does():
    """tests.helpers.call splits its fields by CALL_ARGS: the builder writes the shared examples' lines."""
    assert CALL_ARGS == {"nonblock", "addr", "backlog", "len", "how", "linger0"}
    line = Trace().call("cli", "connect", addr="127.0.0.1:45000", local="127.0.0.1:51000").lines()[1]
    assert line == ('{"ev": "call", "sock": "cli", "op": "connect", "addr": "127.0.0.1:45000", "ret": "ok", '
                    '"local": "127.0.0.1:51000"}')


@pytest.mark.parametrize("addr", [("127.0.0.1", 0), ("10.1.2.3", 65535), ("::1", 5000), ("fe80::1", 1)])
def test_format_addr_is_parse_addrs_inverse(addr):
    assert parse_addr(format_addr(addr)) == addr
    assert format_addr(("::1", 5)) == "[::1]:5" and format_addr(("127.0.0.1", 5)) == "127.0.0.1:5"


# ---------------------------------------------------------------------------
# The shared example traces
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, count", [
    ("handshake-and-close.jsonl", 20),
    ("send-before-established.jsonl", 2),
    ("listener-carries-data.jsonl", 5),
])
def test_examples_parse(shared, name, count):
    with open(shared / "trace-examples" / name, "rb") as stream:
        header, events = read_trace(stream)
        assert len(list(events)) == count
    assert header.profile == "linux" and header.world == "closed"


def test_unusable_example_is_invalid_at_line_3(shared):
    with open(shared / "trace-examples" / "unusable.jsonl", "rb") as stream:
        header, events = read_trace(stream)
        with pytest.raises(TraceError) as info:
            list(events)
    assert info.value.line == 3 and "'t'" in info.value.message


def test_reader_is_lazy():
    """Events come out before the rest of the stream is read."""
    reads = []

    def lines():
        yield HEADER.encode() + b"\n"
        for i in range(1000):
            reads.append(i)
            yield Trace().call(f"s{i}", "socket").lines()[1].encode() + b"\n"

    _, events = read_trace(lines())
    assert next(events).sock == "s0"
    assert len(reads) == 1
