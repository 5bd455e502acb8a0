"""A divergence says what the model expected, in the trace's own terms
(tcpconform.check.expected): the peer address accept would return, the bound
on a byte count and where it comes from, the outcome a call that would block
will have and why, and the rules involved, each with its place in
docs/rules.md.  The traces are those of tests/traces/divergences."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tcpconform.check.expected import RULES_DOC, rule_doc
from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.model import rules
from tcpconform.model.doc import DOC_PATH

ROOT = Path(__file__).resolve().parents[2]
DIVERGENT = ROOT / "tests" / "traces" / "divergences"
EXPECTED_KEYS = {"op", "sock", "ret", "blocks", "n_min", "n_max", "peer", "local", "value", "state", "rule",
                 "rules", "why", "allowed"}


def _check(text: str):
    header, events = read_trace(io.BytesIO(text.encode()))
    return check_trace(header, events)


def verdict_of(name: str):
    return _check((DIVERGENT / name).read_text())


def test_accept_names_the_peer_it_would_return():
    v = verdict_of("accept-wrong-peer.jsonl")
    assert (v.verdict, v.line) == ("diverges", 10)
    assert "accept would return peer 127.0.0.1:51000" in v.reason     # the client's address, not the trace's 40001
    assert "ok peer=127.0.0.1:51000 local=127.0.0.1:45000 [accept.ok]" in v.allowed
    at_once = next(x for x in v.expected if not x["blocks"])
    assert (at_once["ret"], at_once["peer"], at_once["rule"]) == ("ok", "127.0.0.1:51000", "accept.ok")
    assert "accept queue" in at_once["why"]


def test_a_connect_to_a_port_nobody_listens_on_would_be_refused():
    v = verdict_of("connect-nobody-listens.jsonl")
    assert "connect would block, then return ECONNREFUSED (nothing listens on 127.0.0.1:45099)" in v.reason
    assert v.allowed == ["connect blocks, then ECONNREFUSED [connect.start, connect.failed]"]
    (x,) = v.expected
    assert (x["ret"], x["blocks"], x["rule"], x["why"]) == ("ECONNREFUSED", True, "connect.failed",
                                                          "nothing listens on 127.0.0.1:45099")
    # the steps on the way: the SYN goes out, the RST that answers it ends the handshake
    assert [r["id"] for r in x["rules"]] == ["connect.start", "synsent.rst", "connect.failed"]


def test_a_recv_says_its_bound_and_where_it_comes_from():
    v = verdict_of("recv-more-than-sent.jsonl")
    assert "recv would return at most 4 bytes (12 sent by cli, 8 read)" in v.reason
    assert v.allowed == ["ok 1<=n<=4 [recv.data]"]
    (x,) = v.expected
    assert (x["n_min"], x["n_max"], x["why"]) == (1, 4, "12 sent by cli, 8 read")


def test_a_call_nothing_would_wake_says_what_it_waits_for():
    v = verdict_of("accept-nothing-in-flight.jsonl")
    (x,) = v.expected
    assert (x["ret"], x["blocks"], x["rule"]) == (None, True, "accept.empty")
    assert "until a connection completes its handshake: nothing in flight would wake it" in v.reason
    assert v.allowed == ["accept blocks [accept.empty]"]


def test_a_state_event_says_the_states_the_model_allows():
    text = (DIVERGENT / "recv-more-than-sent.jsonl").read_text().splitlines()[:12]
    text.append('{"ev": "state", "sock": "conn", "state": "CLOSE_WAIT"}')
    v = _check("\n".join(text) + "\n")
    assert v.reason == "socket 'conn' cannot be CLOSE_WAIT here; it may be ESTABLISHED here"
    assert v.allowed == ["state ESTABLISHED"] and v.expected[0]["state"] == "ESTABLISHED"


def test_every_expectation_has_the_documented_shape_and_concrete_bounds():
    """Every divergence of the traces kept (and of the proofs' stored runs): one
    expectation per "allowed" entry, in its order, of the documented keys; no
    placeholder where a bound on n belongs."""
    from tcpconform.properties import prove, runs
    texts = [p.read_text() for p in sorted(DIVERGENT.glob("*.jsonl"))]
    for name in sorted(p.stem for p in (ROOT / "tcpconform" / "properties" / "runs").glob("*.json")):
        run, _fields = runs.load(name)
        if run is not None:
            texts.append(prove.trace_of(run, {"run": name}))
    diverged = 0
    for text in texts:
        v = _check(text)
        if v.verdict != "diverges":
            continue
        diverged += 1
        assert [x["allowed"] for x in v.expected] == v.allowed
        for x in v.expected:
            assert set(x) == EXPECTED_KEYS
            assert all(set(r) == {"id", "doc"} for r in x["rules"])
        for entry in v.allowed:
            assert "bytes received" not in entry, entry
            for word in entry.split("[")[0].split():
                if "n=" in word or "n<" in word:
                    assert re.fullmatch(r"n=\d+|\d+<=n<=\d+", word), entry
    assert diverged >= 10


def anchor(title: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation
    dropped (but ``-`` and ``_``), spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of a document's headings, and its ``<a id>`` anchors."""
    return ({anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", markdown, re.M)}
            | set(re.findall(r'<a id="([^"]+)"></a>', markdown)))


def test_every_rule_link_resolves_in_docs_rules_md():
    anchors = _anchors(DOC_PATH.read_text())
    for case in rules.CASES:
        if "rfc" in case.profiles:
            continue  # no sockets API takes these arcs: no check ever names them
        link = rule_doc(case.id)
        page, _, where = link.partition("#")
        assert page == RULES_DOC and where in anchors, (case.id, link)
        row = re.search(rf'^\| <a id="{re.escape(where)}"></a>`([^`]+)`', DOC_PATH.read_text(), re.M)
        assert row and row.group(1) == case.id   # the anchor is on the rule's own row
    for path in sorted(DIVERGENT.glob("*.jsonl")):
        v = verdict_of(path.name)
        assert v.rules
        for r in v.rules + [r for x in v.expected for r in x["rules"]]:
            assert r["doc"].partition("#")[2] in anchors, r


def test_the_anchor_of_a_heading_is_githubs():
    assert anchor("Arriving segments") == "arriving-segments"
    assert anchor("Where Linux departs from RFC 9293 or POSIX") == "where-linux-departs-from-rfc-9293-or-posix"
    assert anchor("Readiness: what poll() reports") == "readiness-what-poll-reports"


@pytest.mark.parametrize("name", sorted(p.name for p in DIVERGENT.glob("*.jsonl")))
def test_each_divergent_trace_says_what_its_header_expects(name):
    import json
    expect = json.loads((DIVERGENT / name).read_text().splitlines()[0])["meta"]["expect"]
    line = int(re.match(r"diverges at line (\d+)", expect).group(1))
    v = verdict_of(name)
    assert (v.verdict, v.line) == ("diverges", line)
