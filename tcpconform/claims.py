"""The seed's claims S1–S14 (../shared/seed/claims.md), each given three verdicts:
on the model by the checker, on the model by z3, and on this machine's kernel.

On the model a claim is *witnessed* (a run of the model does what it says:
a trace that `conform check` accepts), *refuted* (the model rejects what the
claim says, or does what it rules out), or *holds here* (the one outcome
that would contradict it is rejected at that point of the trace — a check
of one situation, not a proof over every reachable state, which is what
`conform prove` is for).  From z3 (:func:`z3_verdict`) a claim is *proven*
(a property of tcpconform/properties/catalog.py citing it holds for every reachable
state of the composed system), *witnessed* (a witness of
tcpconform/properties/witnesses.py declared for it is reached by a run z3 found), or
*refuted* (:data:`REFUTED_BY_Z3`: a proven property and a run contradict it
as the seed states it).  On the kernel a claim is *seen* or *not seen* in
a recorded scenario that conforms.

``python -m tcpconform.claims --write`` regenerates docs/claims.md; a
test fails when it is stale.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tcpconform.check.search import check_trace
from tcpconform.check.trace import call_event, read_trace, state_event, trace_header, trace_text
from tcpconform.live.run import run_scenarios
from tcpconform.model.doc import emit

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "claims.md"


c = call_event   # the evidence below, event by event
s = state_event


L = [c("L", "socket"), c("L", "bind", addr="127.0.0.1:0", local="127.0.0.1:5000"),
     c("L", "listen", backlog=4)]
HANDSHAKE = L + [c("c", "socket"), s("c", "CLOSED"),
                 c("c", "connect", addr="127.0.0.1:5000", local="127.0.0.1:40000"), s("c", "ESTABLISHED"),
                 c("L", "accept", new="a", local="127.0.0.1:5000", peer="127.0.0.1:40000"),
                 s("a", "ESTABLISHED"), s("L", "LISTEN")]


@dataclass
class Claim:
    id: str
    text: str
    verdict: str                      # on the model: witnessed | refuted | holds here
    why: str
    trace: list                       # events the model must accept
    against: dict | None = None       # an event that, put last, the model must reject
    scenario: str | None = None       # live: the scenario that shows it
    seen: Callable[[list], bool] | None = field(default=None, repr=False)
    live_note: str = ""


def _has(pred):
    return lambda evs: any(pred(e) for e in evs)


CLAIMS = [
    Claim("S1", "Before listen(), every connection request to that port is refused.", "holds here",
          "a connect to a bound, not listening port gets ECONNREFUSED; `ok` there is rejected",
          [c("B", "socket"), c("B", "bind", addr="127.0.0.1:0", local="127.0.0.1:5001"), c("c", "socket"),
           c("c", "connect", "ECONNREFUSED", addr="127.0.0.1:5001")],
          c("c", "connect", addr="127.0.0.1:5001", local="127.0.0.1:40001"),
          "refused-bound-not-listening",
          _has(lambda e: e.get("op") == "connect" and e.get("ret") == "ECONNREFUSED")),
    Claim("S2", "Handshake SYN, SYN+ACK, ACK; the client goes CLOSED → SYN_SENT → ESTABLISHED.", "witnessed",
          "rules connect.start, listen.syn, synsent.synack, req.ack",
          [c("L", "socket"), c("L", "bind", addr="127.0.0.1:0", local="127.0.0.1:5000"),
           c("L", "listen", backlog=4), c("c", "socket", nonblock=True), s("c", "CLOSED"),
           c("c", "connect", "EINPROGRESS", addr="127.0.0.1:5000", local="127.0.0.1:40000"),
           s("c", "SYN_SENT"), s("c", "ESTABLISHED")],
          None, "nonblocking-connect",
          _has(lambda e: e.get("state") == "ESTABLISHED")),
    Claim("S3", "The client is ESTABLISHED and may send() while the server is still SYN_RECEIVED.", "witnessed",
          "the client's ACK may still be in flight (or wait at a full accept queue) when it sends; "
          "the server side is then a request sock in SYN_RECEIVED",
          L[:2] + [c("L", "listen", backlog=0), c("x", "socket", nonblock=True),
                   c("x", "connect", "EINPROGRESS", addr="127.0.0.1:5000", local="127.0.0.1:40002"),
                   c("c", "socket", nonblock=True),
                   c("c", "connect", "EINPROGRESS", addr="127.0.0.1:5000", local="127.0.0.1:40000"),
                   s("c", "ESTABLISHED"), c("c", "send", len=5, n=5)],
          None, "send-before-server-established",
          lambda evs: any(e.get("ev") == "x-netstat" and any(
              r["sock"] is None and r["state"] == "SYN_RECEIVED" for r in e["rows"]) for e in evs)
          and any(e.get("sock") == "c" and e.get("op") == "send" and e.get("ret") == "ok" for e in evs)),
    Claim("S4", "socket() creates a socket in CLOSED with no local or remote address.", "witnessed",
          "socket.ok: the initial endpoint (CLOSED, unbound, no addresses)",
          [c("s", "socket"), s("s", "CLOSED")], s("s", "LISTEN"), "fresh-socket-calls",
          _has(lambda e: e.get("ev") == "state" and e.get("state") == "CLOSED")),
    Claim("S5", "A socket holds local and remote address and a TCP state; it is connected when it has a remote "
          "address.", "refuted",
          "Linux keeps the remote address (and SS_CONNECTED) after a RST: the socket reads CLOSED, "
          "connect() says EISCONN, send() EPIPE (connect.connected, send.notconn)",
          L + [c("c", "socket"), c("c", "connect", addr="127.0.0.1:5000", local="127.0.0.1:40000"),
               c("L", "accept", new="a", local="127.0.0.1:5000", peer="127.0.0.1:40000"),
               c("a", "close", linger0=True), s("c", "CLOSED"), c("c", "recv", "ECONNRESET", len=1),
               c("c", "connect", "EISCONN", addr="127.0.0.1:5000")],
          None, "abortive-close",
          _has(lambda e: e.get("op") == "connect" and e.get("ret") == "EISCONN")),
    Claim("S6", "bind() sets the local address; it can fail because the address is in use or for lack of "
          "permission.", "witnessed",
          "bind.ok, bind.inuse (EADDRINUSE, also for a port held by TIME_WAIT); EACCES is not modelled "
          "(runs are root)",
          L + [c("d", "socket"), c("d", "bind", "EADDRINUSE", addr="127.0.0.1:5000")],
          c("d", "bind", addr="127.0.0.1:5000", local="127.0.0.1:5000"), "bind-conflicts",
          _has(lambda e: e.get("op") == "bind" and e.get("ret") == "EADDRINUSE")),
    Claim("S7", "connect() gives the socket a local port if it had none, and runs the handshake.", "witnessed",
          "connect.start autobinds (bound: no → auto)",
          HANDSHAKE[:6], None, "lifecycle-client-closes",
          _has(lambda e: e.get("op") == "connect" and e.get("local"))),
    Claim("S8", "send() returning ok means the data was copied to the send buffer, not delivered.", "witnessed",
          "the peer closes with the bytes unread: they never reach its application",
          HANDSHAKE + [c("c", "send", len=5, n=5), c("a", "close", linger0=True),
                       c("c", "recv", "ECONNRESET", len=5)],
          None, "close-unread-data",
          _has(lambda e: e.get("op") == "send" and e.get("ret") == "ok")),
    Claim("S9", "Data sent with one send() may need several recv() calls.", "witnessed",
          "recv.data returns at most what was asked for",
          HANDSHAKE + [c("c", "send", len=12, n=12), c("a", "recv", len=8, n=8), c("a", "recv", len=8, n=4)],
          c("a", "recv", len=8, n=5), "lifecycle-client-closes",
          lambda evs: sum(1 for e in evs if e.get("op") == "recv" and e.get("n")) >= 2),
    Claim("S10", "listen() moves the socket to LISTEN; a listening socket never sends or receives data.",
          "holds here", "send on a listener: EPIPE; recv: ENOTCONN; `ok` for either is rejected",
          L + [s("L", "LISTEN"), c("L", "send", "EPIPE", len=1), c("L", "recv", "ENOTCONN", len=1)],
          c("L", "recv", len=3, n=3), "listener-calls",
          _has(lambda e: e.get("sock") == "L" and e.get("op") == "recv" and e.get("ret") == "ENOTCONN")),
    Claim("S11", "accept() returns a new connected socket; the listener stays LISTEN; the new socket has the "
          "listener's local address and port.", "holds here",
          "accept.ok dequeues; the listener's state is untouched; an accepted local address other than "
          "the listener's is rejected",
          HANDSHAKE, c("L", "accept", new="b", local="127.0.0.1:5999", peer="127.0.0.1:40000"),
          "lifecycle-client-closes",
          _has(lambda e: e.get("op") == "accept" and e.get("ret") == "ok")),
    Claim("S12", "accept() creates the new socket, which starts in SYN_RCVD and becomes ESTABLISHED when the "
          "client's ACK arrives; then accept() returns it.", "refuted",
          "the kernel completes the connection before accept() is called (a request sock answers the SYN; "
          "the final ACK puts an ESTABLISHED socket in the accept queue); accept() only dequeues, and may "
          "return a socket already in CLOSE_WAIT or CLOSED",
          L + [c("c", "socket"), c("c", "connect", addr="127.0.0.1:5000", local="127.0.0.1:40000"),
               c("c", "close", linger0=True),
               c("L", "accept", new="a", local="127.0.0.1:5000", peer="127.0.0.1:40000"), s("a", "CLOSED")],
          None, "abort-before-accept",
          _has(lambda e: e.get("op") == "accept" and e.get("ret") == "ok")),
    Claim("S13", "netstat lists every socket with protocol, queues, addresses and state; state changes are too "
          "fast to catch by eye.", "witnessed",
          "every state event of a trace is such a listing; the model keeps Recv-Q (rcvq) and in-flight bytes",
          HANDSHAKE, None, "lifecycle-client-closes",
          _has(lambda e: e.get("ev") == "state")),
    Claim("S14", "close() ends the connection, which passes through states such as TIME_WAIT and CLOSE_WAIT.",
          "witnessed", "close.fin, est.fin, fw2.fin, close.closewait, timewait_expiry",
          HANDSHAKE + [c("c", "close"), c("a", "recv", len=1, n=0), s("a", "CLOSE_WAIT"), c("a", "close"),
                       s("c", "TIME_WAIT")],
          None, "lifecycle-client-closes",
          lambda evs: any(e.get("state") == "TIME_WAIT" for e in evs)
          and any(e.get("state") == "CLOSE_WAIT" for e in evs)),
]


def _check(events: list):
    text = trace_text(trace_header(), events)
    h, evs = read_trace(io.BytesIO(text.encode()))
    return check_trace(h, evs)


def model_verdict(claim: Claim) -> tuple[bool, str]:
    """Whether the claim's evidence stands on the current model, and how."""
    v = _check(claim.trace)
    if v.verdict != "conforms":
        return False, f"evidence no longer accepted: line {v.line}: {v.reason}"
    if claim.against is not None:
        w = _check(claim.trace + [claim.against])
        if w.verdict != "diverges" or w.line != len(claim.trace) + 2:
            return False, "the contradicting event is no longer rejected"
    return True, claim.why


def live_verdict(claim: Claim, record=None) -> str:
    if claim.scenario is None:
        return f"not seen: {claim.live_note}"
    text = (record or _record_isolated)(claim.scenario)
    if not text:
        return f"not seen: scenario {claim.scenario} could not run here"
    h, evs = read_trace(io.BytesIO(text.encode()))
    v = check_trace(h, evs)
    events = [json.loads(line) for line in text.splitlines()[1:]]
    if v.verdict != "conforms":
        return f"not seen: scenario {claim.scenario} diverges at line {v.line}"
    return f"seen in `{claim.scenario}`" if claim.seen(events) else f"not seen in `{claim.scenario}`"


def _record_isolated(name: str) -> str:
    """Record a scenario as `conform run` does (in a network namespace of its
    own when root, which scenarios that hold segments back need); its trace, or "" when
    it could not run."""
    return run_scenarios([name], jobs=1).traces.get(name, "")


# ---------------------------------------------------------------------------
# Verdicts from z3 (conform prove): a property proven for every reachable
# state of the composed system, or a run z3 found (a witness)
# ---------------------------------------------------------------------------

# Claims that z3 refutes as the seed states them, and why.
REFUTED_BY_Z3 = {
    "S12": "the kernel, not accept(), creates the server-side socket and completes the handshake: "
           "accept() only dequeues a connection that is already ESTABLISHED (or was since reset)",
}


def z3_cover(claim_id: str) -> tuple[list[str], list[str]]:
    """The catalog's properties whose origin cites the claim, and the
    witnesses declared for it."""
    from tcpconform.properties import catalog, witnesses  # z3: slow to import, for these verdicts only
    props = [p.name for p in catalog.CATALOG if claim_id in re.findall(r"\bS\d+\b", p.origin)]
    wits = [w.name for w in witnesses.WITNESSES if w.claim == claim_id]
    return props, wits


def z3_results(ids=None) -> dict:
    """Run ``conform prove``'s checks for every property and witness that
    covers a claim (certificates and stored runs re-checked; nothing is
    written): name -> result."""
    from tcpconform.properties import catalog, prove, witnesses  # z3: slow to import, for these verdicts only
    from tcpconform.properties.compose import system
    c = system()
    out: dict = {}
    for cid in ids or [cl.id for cl in CLAIMS]:
        props, wits = z3_cover(cid)
        for n in props:
            if n not in out:
                out[n] = prove.prove_one(catalog.BY_NAME[n], c, store=False)
        for n in wits:
            if n not in out:
                out[n] = prove.witness_one(witnesses.BY_NAME[n], c, store=False)
        if cid in REFUTED_BY_Z3:
            for n in props:
                out[f"mutant:{n}"] = prove.against_mutant(catalog.BY_NAME[n], store=False)
    return out


def z3_verdict(claim_id: str, results: dict) -> tuple[bool, str]:
    """The claim's verdict from z3, and whether it stands (a property not
    proven, a premise or witness not reached: it does not)."""
    props, wits = z3_cover(claim_id)
    if not props and not wits:
        return True, "—"
    parts, ok = [], True
    for n in props:
        r = results[n]
        good = r["verdict"] == "proven" and r["premise"]["verdict"] == "witnessed"
        ok &= good
        parts.append(f"`{n}` " + ("proven for every reachable state" if good
                                  else f"NOT PROVEN ({r['verdict']}, premise {r['premise']['verdict']})"))
    for n in wits:
        r = results[n]
        good = r["verdict"] == "witnessed"
        ok &= good
        parts.append(f"`{n}` " + (f"reached by a run z3 found (tcpconform/properties/runs/{n}.json)" if good
                                  else f"NOT REACHED ({r['verdict']})"))
    if claim_id in REFUTED_BY_Z3:
        for n in props:
            r = results[f"mutant:{n}"]
            good = r["verdict"] == "refuted"
            ok &= good
            parts.append(f"the rules read as the seed states it (mutant `{r['mutant']}`) break `{n}`: "
                         + (f"a counterexample (tcpconform/properties/runs/counterexample-{n}.json)" if good
                            else "NO COUNTEREXAMPLE"))
        head = "refuted" if ok else "BROKEN"
        return ok, f"{head}: " + "; ".join(parts) + f" — {REFUTED_BY_Z3[claim_id]}"
    return ok, ("proven" if ok and props and not wits else "witnessed" if ok and wits and not props
                else "proven and witnessed" if ok else "BROKEN") + ": " + "; ".join(parts)


def render(live: bool = True, results: dict | None = None) -> str:
    results = z3_results() if results is None else results
    rows = ["# The seed's claims, on the model and on this kernel", "",
            "Generated by `python -m tcpconform.claims --write` (claims: ../shared/seed/claims.md).",
            "Checker verdicts come from traces the checker accepts or rejects (one situation each);",
            "z3 verdicts are `conform prove`'s: a property of `tcpconform/properties/catalog.py` proven for every",
            "reachable state of the composed system (its certificate re-checked, its premise reached), or a",
            "witness of `tcpconform/properties/witnesses.py` reached by a run z3 found (stored, re-checked step by step",
            "against the current rules; `conform prove --out DIR` writes it as a trace).", "",
            "| claim | checker | why | z3 | on Linux (this machine) |", "|---|---|---|---|---|"]
    for cl in CLAIMS:
        ok, why = model_verdict(cl)
        verdict = cl.verdict if ok else "BROKEN"
        _, z3v = z3_verdict(cl.id, results)
        kernel = live_verdict(cl) if live else "(not run)"
        rows.append(f"| **{cl.id}** {cl.text} | {verdict} | {why} | {z3v} | {kernel} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    text = render()
    emit(text, DOC_PATH, argv)
    return 0 if "BROKEN" not in text else 1


if __name__ == "__main__":
    raise SystemExit(main())
