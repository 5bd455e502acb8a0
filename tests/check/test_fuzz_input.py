"""Fuzzing the input side: malformed traces must give a verdict, never a crash.

Parse-level tests drive :func:`tcpconform.check.trace.read_trace` directly; CLI-level
tests run ``conform check --json`` in-process. Mutations of a valid trace that make it invalid
by construction must be reported at exactly the mutated line; other mutations
may make the trace anything, but never a problem before the first changed line
(the untouched prefix of a trace that conforms still conforms).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpconform.check.trace import ERRNOS, OPS, STATES, TraceError, event_line, read_trace, trace_header
from tests.helpers import Trace, call, client_and_server

# The shared example handshake-and-close.jsonl (but for its note), which the model must accept.
HANDSHAKE = (client_and_server(listener="srv", client="cli", server="conn", backlog=16, listen_port=45000,
                               client_port=51000, profile="linux", world="closed", meta={"note": "fuzz base"})
             .call("cli", "send", len=12, n=12)
             .call("conn", "recv", len=8, n=8).call("conn", "recv", len=8, n=4)
             .call("conn", "send", len=2, n=2).call("cli", "recv", len=100, n=2)
             .call("cli", "close").call("conn", "recv", len=100, n=0).state("conn", "CLOSE_WAIT")
             .call("conn", "close").state("cli", "TIME_WAIT").call("srv", "close")).objects

# A trace that parses (whether the model accepts it does not matter) and uses
# every op and optional field, for the parse-level tests.
VARIETY = (Trace(profile="posix", world="open")
           .call("a", "socket", nonblock=True).call("b", "socket", "EMFILE")
           .call("a", "bind", addr="[::1]:0", local="[::1]:4000").call("a", "bind", "EINVAL", addr="[::1]:0")
           .call("a", "listen", backlog=0).call("a", "accept", "EAGAIN")
           .call("a", "accept", new="c", local="[::1]:4000", peer="[::1]:5000")
           .add({"ev": "x-pcap", "bytes": "4500", "sock": "zzz"})
           .call("c", "connect", "EINPROGRESS", addr="[::1]:1", local="[::1]:5")
           .call("c", "send", len=0, n=0).call("c", "send", "EAGAIN", len=9)
           .call("c", "recv", len=9, n=9, **{"x-t": 0.5}).call("c", "shutdown", how="wr")
           .call("c", "close", linger0=True).state("c", "CLOSED")).objects

EXAMPLES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_EXAMPLES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encode(objs: list) -> list[bytes]:
    """JSON lines (with their newlines) of a list of objects, the header first."""
    return [line.encode() + b"\n" for line in Trace.of(objs).lines()]


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def parse_error(data: bytes) -> TraceError | None:
    """Read the whole trace; return the TraceError it raised (anything else fails the test)."""
    try:
        _, events = read_trace(io.BytesIO(data))
        for _ in events:
            pass
    except TraceError as e:
        assert 1 <= e.line <= line_count(data) + 1, e
        assert e.message and str(e) == f"line {e.line}: {e.message}"
        return e
    return None


# ---------------------------------------------------------------------------
# Mutations of a valid trace
# ---------------------------------------------------------------------------

@dataclass
class Case:
    """A mutated trace and what must come of it."""

    data: bytes
    what: str
    first: int          # no problem may be reported before this line
    exact: bool = False  # the trace is invalid, at exactly line `first`
    fails: bool = False  # the trace is invalid somewhere (at `first` or later)


WRONG_VALUES = {
    "ev": [5, None, "", "Call", "packet", True, [], {}],
    "sock": [5, "", None, True, [], {}, 1.5],
    "op": ["sendto", "SEND", "", 5, None, True, ["send"], "Close"],
    "ret": ["EFOO", "OK", "", 0, None, True, ["ok"], "ok ", "epipe"],
    "addr": ["127.0.0.1", "127.0.0.1:65536", "[::1]", "::1:80", 80, None, "host:80", "", "[127.0.0.1]:1"],
    "len": [-1, "5", True, 1.5, None, []],
    "n": [-1, 10**6, "1", True, 2.5, None],
    "backlog": ["16", True, 1.5, None],
    "state": ["OPEN", "listen", 3, None, "SYN-SENT", "closed"],
    "trace": [3, True, "1", 1.0, None, 0],
    "profile": ["bsd", 1, None, "Linux"],
    "world": ["half", 0, None],
    "meta": [[], 1, "m", None],
    "how": ["both", 1, None],
    "nonblock": [1, "true", None],
    "linger0": [0, "false", None],
}
WRONG_VALUES["local"] = WRONG_VALUES["peer"] = WRONG_VALUES["addr"]
# Fields a line may not carry, whatever its op.
EXTRA_FIELDS = {"foo": 1, "flags": 0, "fd": 3, "errno": "EPIPE", "X-upper": 1}
GARBAGE = [b"\x00", b"\x01", b"\x1f", b"\xff", b"\xfe", b"\x80", b"\xc0", b"\xed\xa0\x80", b"\xf8"]


@st.composite
def mutated(draw, base: list) -> Case:
    """One mutation of ``base`` (a list of JSON objects, the header first)."""
    lines = encode(base)
    i = draw(st.integers(1, len(lines)))  # 1-based line to mutate
    kind = draw(st.sampled_from(
        ["truncate", "delete", "duplicate", "flip", "garbage", "wrong", "extra", "rename", "swap"]))
    before, line, after = lines[: i - 1], lines[i - 1], lines[i:]

    def case(middle: list[bytes], **kw) -> Case:
        return Case(b"".join(before + middle + after), kind, **kw)

    if kind == "truncate":
        # cut before the closing brace; a last line losing its newline keeps >= 1 byte
        keep_newline = bool(after) or draw(st.booleans())
        k = draw(st.integers(0 if keep_newline else 1, len(line) - 2))
        return case([line[:k] + (b"\n" if keep_newline else b"")], first=i, exact=True)
    if kind == "delete":
        return case([], first=i)
    if kind == "duplicate":
        obj = base[i - 1]
        introduces = i > 1 and obj.get("ev") == "call" and obj.get("ret") == "ok" and (
            obj.get("op") == "socket" or obj.get("op") == "accept")
        # a second socket/accept reuses a name; a second header lacks "ev"
        return case([line, line], first=i + 1, exact=introduces or i == 1)
    if kind == "flip":
        p = draw(st.integers(0, len(line) - 1))
        x = draw(st.integers(1, 255))
        return case([line[:p] + bytes([line[p] ^ x]) + line[p + 1:]], first=i)
    if kind == "garbage":
        p = draw(st.integers(0, len(line) - 1))
        junk = draw(st.sampled_from(GARBAGE))
        return case([line[:p] + junk + line[p:]], first=i, exact=True)
    if kind == "swap":
        j = draw(st.integers(1, len(lines)))
        lo, hi = min(i, j), max(i, j)
        swapped = list(lines)
        swapped[lo - 1], swapped[hi - 1] = swapped[hi - 1], swapped[lo - 1]
        return Case(b"".join(swapped), kind, first=lo)

    obj = dict(base[i - 1])
    if kind == "wrong":
        keys = [k for k in obj if k in WRONG_VALUES]
        key = draw(st.sampled_from(keys))
        if key == "new":  # wrong types, or the name of an existing socket
            value = draw(st.sampled_from([5, "", None, True, obj["sock"]]))
        else:
            value = draw(st.sampled_from(WRONG_VALUES[key]))
        extension = str(obj.get("ev", "")).startswith("x-") and key != "ev"  # never validated
        obj[key] = value
        return case(encode([obj]), first=i, exact=not extension)
    if kind == "extra":
        if i == 1:
            key, value = "version", 1
        else:
            key = draw(st.sampled_from(sorted(EXTRA_FIELDS)))
            value = EXTRA_FIELDS[key]
        obj[key] = value
        extension = str(obj.get("ev", "")).startswith("x-")  # these take any field
        return case(encode([obj]), first=i, exact=not extension)
    # rename the socket a line talks about
    if "sock" not in obj or not obj.get("ev", "").startswith(("call", "state")):
        return case([line], first=i)  # header or extension: nothing to rename, trace unchanged
    obj["sock"] = "fresh-" + draw(st.text("xyz", min_size=1, max_size=3))
    if obj.get("ev") == "call" and obj.get("op") == "socket":
        # a fresh name is fine here, but the old name is now never introduced
        return case(encode([obj]), first=i + 1, fails=any(
            o.get("sock") == base[i - 1]["sock"] for o in base[i:]))
    return case(encode([obj]), first=i, exact=True)


def check_case_parse(case: Case) -> None:
    e = parse_error(case.data)
    if case.exact:
        assert e is not None, f"{case.what}: expected an error at line {case.first}"
        assert e.line == case.first, f"{case.what}: {e}"
    elif case.fails:
        assert e is not None and e.line >= case.first, f"{case.what}: {e}"
    elif e is not None:
        assert e.line >= case.first, f"{case.what}: {e}"


@EXAMPLES
@given(mutated(HANDSHAKE))
def test_mutated_handshake_parse(case):
    check_case_parse(case)


@EXAMPLES
@given(mutated(VARIETY))
def test_mutated_variety_parse(case):
    check_case_parse(case)


# ---------------------------------------------------------------------------
# Inputs built from scratch
# ---------------------------------------------------------------------------

@EXAMPLES
@given(st.binary(max_size=400))
def test_random_bytes_parse(data):
    parse_error(data)


@EXAMPLES
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_random_bytes_after_header_parse(chunks):
    data = Trace().data() + b"\n".join(chunks)
    e = parse_error(data)
    if e is None:
        return
    assert e.line >= 2


NAMES = ["s", "t", "conn", "", "x"]
ADDRS = ["127.0.0.1:1", "[::1]:2", "1.2.3.4:0", "127.0.0.1", "::1:3"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False, width=32),
    st.text(max_size=6), st.sampled_from(NAMES + ADDRS + list(OPS) + list(STATES)
                                         + ["ok", "EPIPE", "EAGAIN", "rd", "wr", "rdwr"]))
FIELDS = ["ev", "sock", "op", "ret", "addr", "local", "peer", "new", "backlog", "len", "n",
          "how", "nonblock", "linger0", "state", "x-extra", "bogus"]


@st.composite
def plausible_event(draw) -> dict:
    """An event object whose fields come from the format's vocabulary, often (not always) valid."""
    obj = {"ev": draw(st.sampled_from(["call", "call", "call", "state", "x-y", "nope"]))}
    if draw(st.integers(0, 9)):
        obj["sock"] = draw(st.sampled_from(NAMES))
    if obj["ev"] == "call":
        obj["op"] = draw(st.sampled_from(list(OPS) + ["sendto"]))
        obj["ret"] = draw(st.sampled_from(["ok", "ok", "EPIPE", "EAGAIN", "EINPROGRESS", "EBOGUS"]))
    elif obj["ev"] == "state":
        obj["state"] = draw(st.sampled_from(list(STATES) + ["OPEN"]))
    extra = draw(st.dictionaries(st.sampled_from(FIELDS), SCALARS, max_size=4))
    obj.update(extra)
    return obj


@settings(EXAMPLES, max_examples=400)
@given(st.lists(plausible_event(), max_size=12))
def test_plausible_events_parse(objs):
    data = b"".join(encode([trace_header()] + objs))
    e = parse_error(data)
    if e is not None:
        assert 2 <= e.line <= len(objs) + 1
        # every line before the error parses on its own
        assert parse_error(b"".join(encode([trace_header()] + objs[: e.line - 2]))) is None


@EXAMPLES
@given(st.sampled_from(sorted(ERRNOS)), st.sampled_from(["send", "recv", "close", "listen"]))
def test_every_errno_is_a_valid_ret(name, op):
    fields = {"send": {"len": 1}, "recv": {"len": 1}, "listen": {"backlog": 1}}.get(op, {})
    assert parse_error(Trace().call("s", "socket").call("s", op, name, **fields).data()) is None


# ---------------------------------------------------------------------------
# The CLI, in-process
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trace_path(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "trace.jsonl"


def run_cli(path, data: bytes) -> tuple[int, dict]:
    """``conform check --json`` on ``data``: the exit code and the JSON printed."""
    from tcpconform.cli import main

    path.write_bytes(data)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", str(path), "--json"])
    verdict = json.loads(out.getvalue())
    assert code in (0, 1, 2)
    assert set(verdict) >= {"verdict", "line", "reason", "allowed"}
    assert {"conforms": 0, "diverges": 1, "invalid": 2}[verdict["verdict"]] == code
    if code == 0:
        assert verdict["line"] is None
    else:
        assert 1 <= verdict["line"] <= line_count(data) + 1
        assert verdict["reason"]
    return code, verdict


def test_cli_base_trace_conforms(trace_path):
    assert run_cli(trace_path, b"".join(encode(HANDSHAKE)))[0] == 0


def test_base_trace_is_the_shared_example(shared):
    """HANDSHAKE, built with tests.helpers, is handshake-and-close.jsonl line for line (but for the header's note)."""
    lines = (shared / "trace-examples" / "handshake-and-close.jsonl").read_text().splitlines()
    assert Trace.of(HANDSHAKE).lines()[1:] == lines[1:]
    assert json.loads(lines[0])["meta"].keys() == HANDSHAKE[0]["meta"].keys()


@CLI_EXAMPLES
@given(case=mutated(HANDSHAKE))
def test_cli_mutated_handshake(trace_path, case):
    code, verdict = run_cli(trace_path, case.data)
    if case.exact:
        assert (code, verdict["line"]) == (2, case.first), (case.what, verdict)
    elif case.fails:
        assert code == 2 and verdict["line"] >= case.first, (case.what, verdict)
    elif code != 0:
        assert verdict["line"] >= case.first, (case.what, verdict)


@CLI_EXAMPLES
@given(data=st.binary(max_size=300))
def test_cli_random_bytes(trace_path, data):
    run_cli(trace_path, data)


@CLI_EXAMPLES
@given(objs=st.lists(plausible_event(), max_size=10))
def test_cli_plausible_events(trace_path, objs):
    data = b"".join(encode([trace_header()] + objs))
    code, verdict = run_cli(trace_path, data)
    e = parse_error(data)
    if e is not None:  # the checker stops at a divergence or at the first bad line
        assert code in (1, 2) and verdict["line"] <= e.line
        if code == 2:
            assert verdict["line"] == e.line and verdict["reason"] == e.message


@CLI_EXAMPLES
@given(i=st.integers(2, len(HANDSHAKE)), op=st.sampled_from(["sendto", "bind4", "", "CLOSE"]))
def test_cli_unknown_op_is_invalid_at_its_line(trace_path, i, op):
    objs = [dict(o) for o in HANDSHAKE]
    objs[i - 1] = call("srv", op)
    code, verdict = run_cli(trace_path, b"".join(encode(objs)))
    assert (code, verdict["line"]) == (2, i)
    assert "unknown op" in verdict["reason"]


def test_cli_missing_file_and_directory(tmp_path):
    from tcpconform.cli import main

    for target in (tmp_path / "absent.jsonl", tmp_path):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["check", str(target), "--json"])
        assert code == 2
        verdict = json.loads(out.getvalue())
        assert verdict["verdict"] == "invalid" and verdict["line"] is None


def test_cli_usage_errors_exit_2():
    from tcpconform.cli import main

    with contextlib.redirect_stderr(io.StringIO()):
        assert main([]) == 2
        assert main(["check"]) == 2
        assert main(["frobnicate"]) == 2
        assert main(["run", "--random", "many"]) == 2


# ---------------------------------------------------------------------------
# Every field of every event kind: values of every JSON type, deep nesting,
# numbers JSON has no literal for, bytes that are not UTF-8, byte order
# marks, line ends, blank lines and keys given twice
# ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]

# Traces that conform, between them holding every event kind: every op (ok and
# failed), state events, and every x- event `conform run` writes (docs/extensions.md).
SHUTDOWN = (client_and_server(listener="srv", client="cli", server="conn", backlog=4, listen_port=45000,
                              client_port=51000)
            .call("cli", "shutdown", how="wr").call("cli", "send", "EPIPE", len=3)
            .call("conn", "recv", len=10, n=0).call("cli", "listen", "EINVAL", backlog=1)
            .call("cli", "bind", "EINVAL", addr="127.0.0.1:0")
            .call("conn", "close", linger0=True).call("srv", "close")).objects
# A recorded trace (simultaneous-open-syn-lost.jsonl) with one line of each x- event
# the reader passes over (x-sockopt, x-acceptq, x-netstat, x-packet-drops, an unknown one) added.
OBSERVED = [json.loads(line) for line in (ROOT / "tests" / "traces" / "every-x-event.jsonl").read_text().splitlines()]
CONFORMING = {"handshake": HANDSHAKE, "shutdown": SHUTDOWN, "observed": OBSERVED}

# The JSON type each field the reader validates must have; of any other x- event
# only "ev" is read, its other fields are passed over untouched.
TYPED = {
    "header": {"trace": int, "profile": str, "world": str, "meta": dict},
    "call": {"ev": str, "sock": str, "op": str, "ret": str, "addr": str, "local": str, "peer": str,
             "new": str, "backlog": int, "len": int, "n": int, "how": str, "nonblock": bool, "linger0": bool},
    "state": {"ev": str, "sock": str, "state": str},
    "x-observers": {"ev": str, "packets": bool, "states": bool, "off": dict},
    "x-packet": {"ev": str, "src": str, "dst": str, "flags": str, "seq": int, "ack": int, "len": int},
    "x-state": {"ev": str, "sock": str, "local": str, "remote": str, "from": str, "to": str},
    "x-netfilter": {"ev": str, "drop": str, "on": bool},
}

# Values as JSON text, with their JSON type; "bigint": an integer literal beyond
# 64 bits, which a reader may take as an integer or not; "huge": one beyond what
# a double holds, which a reader may refuse wherever it is.
ODD = [("0", int), ("-1", int), ("9223372036854775807", int), ("18446744073709551615", int),
       ("18446744073709551616", "bigint"), ("-9223372036854775809", "bigint"), ("1" + "0" * 400, "huge"),
       ("1.5", float), ("-0.0", float), ("1e308", float), ("1e-999", float), ("true", bool), ("false", bool),
       ("null", None), ("[]", list), ('["ok"]', list), ('[[["CLOSED"]]]', list), ("{}", dict),
       ('{"a": 1}', dict), ('""', str), ('"' + "x" * 100_000 + '"', str), ('"\\u0000"', str)]
NON_FINITE = ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1E400", "0x10", "+1", "01"]
MARK = "\x00mark\x00"


def kind_of(objs: list, i: int) -> str:
    """What line ``i`` (1-based) of ``objs`` is: "header", or its ``ev``."""
    return "header" if i == 1 else objs[i - 1]["ev"]


def with_raw(objs: list, i: int, key: str, raw: str) -> bytes:
    """The trace ``objs`` with field ``key`` of line ``i`` set to the JSON text ``raw``
    (written as it is: it need not be JSON)."""
    lines = [event_line(o) for o in objs]
    obj = dict(objs[i - 1])
    obj[key] = MARK
    lines[i - 1] = event_line(obj).replace(json.dumps(MARK), raw)
    return "".join(line + "\n" for line in lines).encode()


def refused(kind: str, key: str, raw: str, jtype) -> bool | None:
    """Whether a field of that JSON type must be refused (None: it may be valid)."""
    want = TYPED.get(kind, {"ev": str}).get(key)
    if jtype == "huge":
        return None  # beyond what a double holds: a reader may refuse it, anywhere
    if want is None:
        return False  # passed over untouched
    if kind == "header" and key == "trace":
        return raw not in ("1", "2")
    if jtype == "bigint":
        return True if want is not int else None
    return True if jtype is not want else None


def one_line_per_kind(objs: list) -> list[int]:
    """The first line of each kind (header, each op with ret ok or not, state, each x- event)."""
    seen, lines = set(), []
    for i, obj in enumerate(objs, 1):
        kind = (kind_of(objs, i), obj.get("op"), obj.get("ret") == "ok")
        if kind not in seen:
            seen.add(kind)
            lines.append(i)
    return lines


def every_field(bases: dict, per_kind: bool):
    """(base name, objects, line, key) for every field of every line (or of one line per kind)."""
    for name, objs in bases.items():
        for i in (one_line_per_kind(objs) if per_kind else range(1, len(objs) + 1)):
            for key in objs[i - 1]:
                yield name, objs, i, key


def expect_parse(data: bytes, line: int, key: str, must: bool | None, what: str) -> None:
    e = parse_error(data)
    if must:
        assert e is not None and (e.line, e.field) == (line, key), f"{what}: {e}"
    elif must is False:
        assert e is None, f"{what}: {e}"
    elif e is not None:
        assert e.line >= line, f"{what}: {e}"


def test_odd_values_in_every_field_parse():
    """Values of every JSON type, huge integers and long strings in every field of
    every line: a wrong type is refused at its line and field; a field the reader
    does not read stays untouched; nothing else escapes."""
    for name, objs, i, key in every_field({**CONFORMING, "variety": VARIETY}, per_kind=False):
        for raw, jtype in ODD:
            must = refused(kind_of(objs, i), key, raw, jtype)
            expect_parse(with_raw(objs, i, key, raw), i, key, must, f"{name} line {i} {key}={raw[:20]}")


@pytest.mark.slow   # measured above 5 s (pytest --durations)
def test_odd_values_in_every_field_cli(trace_path):
    """The same through ``conform check``: exit 2 at the line, or the base trace's verdict."""
    for name, objs, i, key in every_field(CONFORMING, per_kind=True):
        for raw, jtype in ODD[::2] + [ODD[-2]]:
            must = refused(kind_of(objs, i), key, raw, jtype)
            code, verdict = run_cli(trace_path, with_raw(objs, i, key, raw))
            what = f"{name} line {i} {key}={raw[:20]}: {verdict}"
            if must:
                assert (code, verdict["line"]) == (2, i), what
            elif must is False:
                assert code == 0, what
            elif code:
                assert verdict["line"] >= i, what


def nested(depth: int, opener: str) -> str:
    """A JSON value nested ``depth`` deep, built as text (no recursion)."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


DEPTHS = [254, 255, 256, 1000, 1023, 1024, 1025, 2000, 100_000]


def test_deep_nesting_in_every_field_parse():
    """Arrays and objects nested up to 100,000 deep in every field of every kind of
    line: refused at the line (as a wrong type, or past the parser's depth limit),
    never a RecursionError; a field nobody reads may hold one not too deep."""
    for name, objs, i, key in every_field(CONFORMING, per_kind=True):
        kind = kind_of(objs, i)
        for depth in DEPTHS:
            for opener, jtype in (("[", list), ("{", dict)):
                data = with_raw(objs, i, key, nested(depth, opener))
                e = parse_error(data)
                what = f"{name} line {i} {key} nested {depth} deep in {opener}: {e}"
                must = refused(kind, key, opener, jtype)
                if must or depth >= 2000:
                    assert e is not None and e.line == i, what
                    assert len(e.message) < 300, what
                elif depth <= 1000:
                    assert e is None, what
                elif e is not None:
                    assert e.line == i, what


def test_deep_nesting_cli(trace_path):
    """Through ``conform check``: a deep value in a field that reaches the message,
    in an x-state, in the header, and in an event nobody reads."""
    cases = [(HANDSHAKE, 2, "sock"), (HANDSHAKE, 1, "trace"), (HANDSHAKE, 1, "meta"), (OBSERVED, 17, "from"),
             (OBSERVED, 17, "to"), (OBSERVED, 29, "flags"), (OBSERVED, len(OBSERVED), "bytes")]
    for objs, i, key in cases:
        for depth in (1000, 100_000):
            code, verdict = run_cli(trace_path, with_raw(objs, i, key, nested(depth, "[")))
            if key == "bytes" and depth == 1000:  # a field of an x- event that nobody reads
                assert code == 0, verdict
            else:
                assert (code, verdict["line"]) == (2, i), (key, depth, verdict)
                assert len(verdict["reason"]) < 300


def test_non_finite_numbers_in_every_field():
    """NaN, Infinity, 1e999 and other numbers JSON has no literal for, in every field of
    every kind of line: refused at that line, whichever field, read or not."""
    for name, objs, i, key in every_field(CONFORMING, per_kind=True):
        for raw in NON_FINITE:
            e = parse_error(with_raw(objs, i, key, raw))
            assert e is not None and e.line == i, f"{name} line {i} {key}={raw}: {e}"


def test_non_finite_numbers_cli(trace_path):
    for objs, i, key in [(HANDSHAKE, 1, "trace"), (HANDSHAKE, 4, "backlog"), (OBSERVED, 29, "seq"),
                         (OBSERVED, len(OBSERVED), "bytes"), (SHUTDOWN, 12, "len")]:
        for raw in ("NaN", "Infinity", "-Infinity", "1e999"):
            code, verdict = run_cli(trace_path, with_raw(objs, i, key, raw))
            assert (code, verdict["line"]) == (2, i), (key, raw, verdict)
            assert "invalid JSON" in verdict["reason"]


BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
            b"\xf8\x88\x80\x80\x80"]


def test_invalid_utf8_anywhere_in_a_line(trace_path):
    """Bytes that are not UTF-8, in a string value, between fields or at the line end,
    on any line: refused at that line."""
    for name, objs in CONFORMING.items():
        lines = encode(objs)
        for i in one_line_per_kind(objs):
            line = lines[i - 1]
            for bad in BAD_UTF8:
                for at in (line.index(b'"') + 1, line.rindex(b'"'), line.find(b",") % len(line), len(line) - 1):
                    data = b"".join(lines[: i - 1] + [line[:at] + bad + line[at:]] + lines[i:])
                    e = parse_error(data)
                    assert e is not None and e.line == i, (name, i, bad, at, e)
    code, verdict = run_cli(trace_path, b"".join(encode(HANDSHAKE)).replace(b'"cli"', b'"c\xffli"', 1))
    assert (code, verdict["line"]) == (2, 6) and "UTF-8" in verdict["reason"], verdict


def test_escaped_lone_surrogate_never_escapes():
    """``"\\ud800"`` is JSON but no Unicode text: refused at its line, or read as a name."""
    e = parse_error(b"".join(encode(HANDSHAKE)).replace(b'"cli"', b'"\\ud800"'))
    assert e is None or e.line == 6, e


def test_byte_order_marks(trace_path):
    """A byte order mark opening the file or any line is refused there; U+FEFF inside
    a string is a character like any other."""
    lines = encode(HANDSHAKE)
    for i in (1, 2, 6, len(lines)):
        data = b"".join(lines[: i - 1] + [codecs.BOM_UTF8 + lines[i - 1]] + lines[i:])
        code, verdict = run_cli(trace_path, data)
        assert (code, verdict["line"]) == (2, i) and "byte order mark" in verdict["reason"], verdict
    utf16 = "".join(line.decode() for line in lines).encode("utf-16")
    assert run_cli(trace_path, utf16)[1]["line"] == 1
    named = b"".join(lines).replace(b'"cli"', '"\ufeffcli"'.encode())
    assert run_cli(trace_path, named)[0] == 0


def test_line_ends(trace_path):
    """CRLF line ends, all or some, read as LF; a missing final newline is fine; a bare
    CR is no line end (the next line's text is then trailing junk on line 1)."""
    for objs in CONFORMING.values():
        lines = encode(objs)
        crlf = [line[:-1] + b"\r\n" for line in lines]
        assert run_cli(trace_path, b"".join(crlf))[0] == 0
        mixed = [c if k % 2 else lf for k, (lf, c) in enumerate(zip(lines, crlf))]
        assert run_cli(trace_path, b"".join(mixed))[0] == 0
        assert run_cli(trace_path, b"".join(lines)[:-1])[0] == 0
        assert run_cli(trace_path, b"".join(crlf)[:-2])[0] == 0
        code, verdict = run_cli(trace_path, b"".join(line[:-1] + b"\r" for line in lines))
        assert (code, verdict["line"]) == (2, 1), verdict


def test_blank_and_empty_lines(trace_path):
    """An empty or whitespace-only line is refused at its number, the last one
    included; an empty file at line 1."""
    lines = encode(SHUTDOWN)
    for i in (2, 5, len(lines) + 1):
        for blank in (b"\n", b"\r\n", b" \n", b"\t \r\n"):
            data = b"".join(lines[: i - 1] + [blank] + lines[i - 1:])
            code, verdict = run_cli(trace_path, data)
            assert (code, verdict["line"]) == (2, i) and "blank line" in verdict["reason"], (i, blank, verdict)
    for data in (b"", b"\n", b"\r\n", b" "):
        code, verdict = run_cli(trace_path, data)
        assert (code, verdict["line"]) == (2, 1), (data, verdict)


def test_duplicate_keys_the_last_one_counts(trace_path):
    """A key given twice in one object: the last value is the field's, as Python's
    own JSON reader has it; so a bad last value is refused at its line and field."""
    lines = [event_line(o) for o in HANDSHAKE]
    i = 8  # the connect
    assert '"ret": "ok"' in lines[i - 1]

    def doubled(first: str, last: str) -> bytes:
        text = lines[i - 1].replace('"ret": "ok"', f'"ret": {first}, "ret": {last}')
        return "".join(line + "\n" for line in lines[: i - 1] + [text] + lines[i:]).encode()

    assert run_cli(trace_path, doubled('"EPIPE"', '"ok"'))[0] == 0
    assert run_cli(trace_path, doubled('[[1]]', '"ok"'))[0] == 0
    code, verdict = run_cli(trace_path, doubled('"ok"', "[]"))
    assert (code, verdict["line"]) == (2, i) and "'ret'" in verdict["reason"], verdict
    e = parse_error(doubled('"ok"', "{}"))
    assert (e.line, e.field) == (i, "ret")


SUBPROCESS_CASES = {
    "deep-sock": (with_raw(HANDSHAKE, 2, "sock", nested(1000, "[")), 2),
    "deep-meta": (with_raw(HANDSHAKE, 1, "meta", nested(100_000, "{")), 1),
    "x-state-list": (with_raw(OBSERVED, 17, "from", '["CLOSED"]'), 17),
    "x-state-object": (with_raw(OBSERVED, 17, "to", '{"SYN_SENT": 1}'), 17),
    "nan": (with_raw(OBSERVED, 29, "seq", "NaN"), 29),
    "not-utf8": (b"".join(encode(HANDSHAKE)).replace(b'"srv"', b'"s\xc0\xafrv"', 1), 2),
    "bom": (codecs.BOM_UTF8 + b"".join(encode(HANDSHAKE)), 1),
}


@pytest.mark.parametrize("name", sorted(SUBPROCESS_CASES))
def test_cli_subprocess_no_traceback(tmp_path, name):
    """``python -m tcpconform check`` as a separate process: exit 2, the line on stdout, nothing on stderr."""
    data, line = SUBPROCESS_CASES[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "tcpconform", "check", str(path)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert (done.returncode, done.stderr) == (2, ""), done
    assert done.stdout.startswith(f"invalid at line {line}: "), done.stdout
    assert len(done.stdout) < 400
