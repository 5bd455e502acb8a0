"""Unit tests of tcpconform.check.trace: what is accepted, and every kind of error with its line."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tcpconform.check.trace import ERRNOS, MAX_LINE_BYTES, OPS, STATES, Call, Extension, Header, State, TraceError, parse_addr, read_trace

HEADER = '{"trace": 1}'
SOCK_S = '{"ev": "call", "sock": "s", "op": "socket", "ret": "ok"}'


def _bytes(lines: list[str] | str | bytes) -> bytes:
    if isinstance(lines, bytes):
        return lines
    if isinstance(lines, str):
        return lines.encode()
    return ("\n".join(lines) + "\n").encode()


def parse(lines: list[str] | str | bytes) -> tuple[Header, list]:
    header, events = read_trace(io.BytesIO(_bytes(lines)))
    return header, list(events)


def error(lines: list[str] | str | bytes) -> TraceError:
    with pytest.raises(TraceError) as info:
        parse(lines)
    return info.value


def events_after_socket(*lines: str) -> list[str]:
    """A header, a socket "s", then ``lines`` (the first of them is line 3)."""
    return [HEADER, SOCK_S, *lines]


def call(op: str, ret: str = "ok", sock: str = "s", **fields) -> str:
    import json
    return json.dumps({"ev": "call", "sock": sock, "op": op, "ret": ret, **fields})


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
    header, events = parse([
        '{"trace": 1, "profile": "posix", "world": "open", "meta": {"k": [1, 2]}}',
        call("socket", sock="L", nonblock=True),
        call("bind", sock="L", addr="127.0.0.1:0", local="127.0.0.1:45000"),
        call("listen", sock="L", backlog=-1),
        '{"ev": "state", "sock": "L", "state": "LISTEN"}',
        call("socket", sock="c"),
        call("connect", sock="c", ret="EINPROGRESS", addr="[::1]:45000", local="[::1]:51000"),
        call("accept", sock="L", new="a", local="[::1]:45000", peer="[::1]:51000"),
        call("accept", sock="L", ret="EAGAIN"),
        call("send", sock="c", len=0, n=0),
        call("send", sock="c", len=5, n=3),
        call("send", sock="c", len=5, ret="EPIPE"),
        call("recv", sock="a", len=8, n=0),
        call("shutdown", sock="a", how="rdwr"),
        call("close", sock="a", linger0=True),
        '{"ev": "x-pcap", "anything": {"goes": [1]}, "sock": "nobody"}',
        '{"ev": "state", "sock": "a", "state": "CLOSED", "x-note": 1}',
    ])
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
    _, events = parse(events_after_socket(call("recv", ret="EWOULDBLOCK", len=4)))
    assert events[1].ret == "EAGAIN"


def test_failed_socket_introduces_nothing():
    e = error([HEADER, call("socket", ret="EMFILE", sock="f"), call("close", sock="f")])
    assert e.line == 3 and "'f'" in e.message


def test_names_survive_close():
    _, events = parse(events_after_socket(call("close"), '{"ev":"state","sock":"s","state":"CLOSED"}'))
    assert len(events) == 3


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:40000", ("127.0.0.1", 40000)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:65535", ("::1", 65535)),
    ("[0:0::1]:1", ("::1", 1)),
    ("[::ffff:127.0.0.1]:80", ("::ffff:7f00:1", 80)),
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
    (b"{\"trace\": 2}\n", "integer 1"),
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
    (call("sendto"), "op", "unknown op"),
    (call("SEND", len=1, n=1), "op", "unknown op"),
    ('{"ev": "call", "sock": "s", "op": ["close"], "ret": "ok"}', "op", "unknown op"),
    ('{"ev": "call", "sock": "s", "op": "close"}', "ret", "missing field 'ret'"),
    (call("close", ret="EFOO"), "ret", "errno"),
    (call("close", ret="OK"), "ret", "errno"),
    (call("close", ret=0), "ret", "errno"),
    (call("close", ret=["EPIPE"]), "ret", "errno"),
    (call("close", ret={"e": 1}), "ret", "errno"),
    (call("close", linger0=1), "linger0", "true or false"),
    (call("close", linger0="true"), "linger0", "true or false"),
    (call("close", flags=3), "flags", "unexpected field 'flags'"),
    (call("close", addr=A), "addr", "unexpected field 'addr'"),
    (call("bind", local=A), "addr", "missing field 'addr'"),
    (call("bind", addr=A), "local", "missing field 'local'"),
    (call("bind", ret="EADDRINUSE", addr=A, local=A), "local", "only allowed when ret is 'ok'"),
    (call("bind", addr="127.0.0.1", local=A), "addr", "IP:PORT"),
    (call("bind", addr=A, local="127.0.0.1:99999"), "local", "IP:PORT"),
    (call("bind", addr=45000, local=A), "addr", "must be a string"),
    (call("listen"), "backlog", "missing field 'backlog'"),
    (call("listen", backlog="16"), "backlog", "integer"),
    (call("listen", backlog=True), "backlog", "integer"),
    (call("listen", backlog=16.0), "backlog", "integer"),
    (call("listen", backlog=None), "backlog", "integer"),
    (call("connect", local=B), "addr", "missing field 'addr'"),
    (call("connect", addr=A), "local", "missing field 'local'"),
    (call("connect", ret="EINPROGRESS", addr=A), "local", "missing field 'local'"),
    (call("connect", ret="ECONNREFUSED", addr=A, local=B), "local", "only allowed when ret is"),
    (call("connect", addr="[127.0.0.1]:1", local=B), "addr", "IP"),
    (call("accept", local=A, peer=B), "new", "missing field 'new'"),
    (call("accept", new="a", peer=B), "local", "missing field 'local'"),
    (call("accept", new="a", local=A), "peer", "missing field 'peer'"),
    (call("accept", new="", local=A, peer=B), "new", "non-empty string"),
    (call("accept", new=7, local=A, peer=B), "new", "non-empty string"),
    (call("accept", ret="EAGAIN", new="a"), "new", "only allowed when ret is 'ok'"),
    (call("accept", new="a", local=A, peer=B, addr=A), "addr", "unexpected field"),
    (call("send", n=1), "len", "missing field 'len'"),
    (call("send", len=5), "n", "missing field 'n'"),
    (call("send", len=-1, ret="EPIPE"), "len", ">= 0"),
    (call("send", len=True, n=1), "len", "integer"),
    (call("send", len=5, n=0), "n", "between 1 and len=5"),
    (call("send", len=5, n=6), "n", "between 1 and len=5"),
    (call("send", len=5, n=2.5), "n", "integer"),
    (call("send", len=5, n="5"), "n", "integer"),
    (call("send", len=5, ret="EPIPE", n=0), "n", "only allowed when ret is 'ok'"),
    (call("recv", len=5), "n", "missing field 'n'"),
    (call("recv", len=5, n=-1), "n", "between 0 and len=5"),
    (call("recv", len=5, n=6), "n", "between 0 and len=5"),
    (call("recv", len=0, n=1), "n", "between 0 and len=0"),
    (call("recv", len="5", n=1), "len", "integer"),
    (call("shutdown"), "how", "missing field 'how'"),
    (call("shutdown", how="both"), "how", "rdwr"),
    (call("shutdown", how="RD"), "how", "rdwr"),
    (call("shutdown", how=1), "how", "rdwr"),
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
    e = error(events_after_socket(call("socket", sock="pad"), event))
    assert e.line == 4, str(e)
    assert e.field == field, str(e)
    assert words in e.message, str(e)


def test_socket_nonblock_must_be_bool():
    e = error([HEADER, call("socket", nonblock="yes")])
    assert (e.line, e.field) == (2, "nonblock")


def test_x_fields_are_ignored_everywhere():
    _, events = parse(events_after_socket(call("send", len=1, n=1, **{"x-time": 1.5})))
    assert events[1].n == 1


def test_extension_with_non_string_or_missing_fields_is_kept():
    _, events = parse([HEADER, '{"ev": "x-"}', '{"ev": "x-q", "sock": 5}'])
    assert [e.ev for e in events] == ["x-", "x-q"]


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("event", [
    call("close", sock="t"),
    call("send", sock="t", len=1, ret="EBADF"),
    call("accept", sock="t", ret="EINVAL"),
    call("accept", sock="t", new="u", local=A, peer=B),
    '{"ev": "state", "sock": "t", "state": "CLOSED"}',
])
def test_name_used_before_introduced(event):
    e = error(events_after_socket(event))
    assert (e.line, e.field) == (3, "sock")
    assert e.message == "socket 't' used before it was introduced"


def test_name_introduced_twice_by_socket():
    e = error(events_after_socket(call("close"), SOCK_S))
    assert (e.line, e.field) == (4, "sock")
    assert "already introduced at line 2" in e.message


def test_failed_socket_may_not_reuse_a_name():
    e = error(events_after_socket(call("socket", ret="EMFILE")))
    assert (e.line, e.field) == (3, "sock")


def test_failed_socket_name_may_be_introduced_later():
    _, events = parse([HEADER, call("socket", ret="EMFILE", sock="f"), call("socket", sock="f")])
    assert len(events) == 2


@pytest.mark.parametrize("new", ["s", "L"])
def test_accept_new_name_must_be_fresh(new):
    e = error([HEADER, SOCK_S, call("socket", sock="L"), call("accept", sock="L", new=new, local=A, peer=B)])
    assert (e.line, e.field) == (4, "new")
    assert "already introduced" in e.message


def test_accept_introduces_new_then_socket_cannot_reuse_it():
    _, events = parse(events_after_socket(call("accept", new="a", local=A, peer=B), call("close", sock="a")))
    assert events[2].sock == "a"
    e = error(events_after_socket(call("accept", new="a", local=A, peer=B), call("socket", sock="a")))
    assert e.line == 4


# ---------------------------------------------------------------------------
# The shared example traces
# ---------------------------------------------------------------------------

def _shared() -> Path | None:
    env = os.environ.get("TCP_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared")
    for path in candidates:
        if (path / "trace-examples").is_dir():
            return path / "trace-examples"
    return None


EXAMPLES = _shared()
needs_examples = pytest.mark.skipif(
    EXAMPLES is None, reason="shared trace examples not found (set TCP_SHARED to the shared directory)")


@needs_examples
@pytest.mark.parametrize("name, count", [
    ("handshake-and-close.jsonl", 20),
    ("send-before-established.jsonl", 2),
    ("listener-carries-data.jsonl", 5),
])
def test_examples_parse(name, count):
    with open(EXAMPLES / name, "rb") as stream:
        header, events = read_trace(stream)
        assert len(list(events)) == count
    assert header.profile == "linux" and header.world == "closed"


@needs_examples
def test_unusable_example_is_invalid_at_line_3():
    with open(EXAMPLES / "unusable.jsonl", "rb") as stream:
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
            yield f'{{"ev": "call", "sock": "s{i}", "op": "socket", "ret": "ok"}}\n'.encode()

    _, events = read_trace(lines())
    assert next(events).sock == "s0"
    assert len(reads) == 1
