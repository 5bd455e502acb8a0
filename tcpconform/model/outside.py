"""Peers outside the trace (`"world": "open"` in a trace header).

In a closed world every endpoint that takes part appears in the trace, so a
segment sent to an address no socket of the trace holds gets a RST.  In an
open world that address may belong to a peer the trace does not show.  The
model knows nothing of that peer but what TCP lets any correct peer do, so
it allows all of it — written here as data, read by :mod:`tcpconform.model.system`:

* how an outside peer may answer each segment it receives;
* what it may send on its own at any time, by the state of the trace's
  endpoint it is connected to;
* and an outside client may connect to a listener of the trace at any time
  (``accept`` then returns a peer the trace never showed).
"""

from __future__ import annotations

# Bytes an outside peer's spontaneous DATA stands for: more than any trace
# reads, so every recv count is explained (its exact size is unknowable);
# an unobserved step may later end that data where the reading stopped
# (tcpconform.model.system._outside_actions), so end-of-stream can follow.
UNBOUNDED = 1 << 40

# segment received by the outside peer → the alternatives it may answer with
REPLIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "SYN": (("SYNACK",), ("RST",), ()),          # a listener, no socket, or silence (filtered)
    "SYNACK": (("ACK",), ("RST",)),              # simultaneous open, or no such connection
    "ACK": ((),),
    "ACKFIN": ((),),
    "DATA": ((), ("RST",)),                      # taken, or the peer is gone / closed for reading
    "FIN": (("ACKFIN",), ("ACKFIN", "FINACK"), ("RST",)),
    "FINACK": (("ACKFIN",), ("RST",)),
    "RST": ((),),
}

# state of the trace endpoint → segments the outside peer may send unprompted
# (R9293 §3.10.7.4: a peer may send data, close, or abort in these states)
SPONTANEOUS: dict[str, tuple[str, ...]] = {
    "ESTABLISHED": ("DATA", "FIN", "RST"),
    "FIN_WAIT_1": ("DATA", "FIN", "RST"),
    "FIN_WAIT_2": ("DATA", "FIN", "RST"),
    "CLOSE_WAIT": ("RST",),
    "CLOSING": ("RST",),
    "LAST_ACK": ("RST",),
    "SYN_RECEIVED": ("RST",),
}
