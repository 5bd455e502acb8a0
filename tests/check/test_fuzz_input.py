"""Fuzzing the input side: malformed traces must give a verdict, never a crash.

Parse-level tests drive :func:`tcpconform.check.trace.read_trace` directly; CLI-level
tests run ``conform check --json`` in-process. Mutations of a valid trace that make it invalid
by construction must be reported at exactly the mutated line; other mutations
may make the trace anything, but never a problem before the first changed line
(the untouched prefix of a trace that conforms still conforms).
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpconform.check.trace import ERRNOS, OPS, STATES, TraceError, read_trace, trace_header
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
    "trace": [2, True, "1", 1.0, None, 0],
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
