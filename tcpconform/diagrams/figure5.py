"""RFC 9293's Figure 5 ("TCP Connection State Diagram", §3.3.2), as data.

The state diagram draws an arc in the RFC's style only when it is one of
these twenty arcs and a rule that makes it says so (``Case.fig5``); every
other arc of the rule table is drawn in a style of its own, as not in
Figure 5.  The states are spelled as the model spells them (``SYN-RCVD`` is
``SYN_RECEIVED``, ``ESTAB`` ``ESTABLISHED``, ...); the events and actions
are the figure's words.

Figure 5's notes say what it leaves out: the SYN-RECEIVED → LISTEN arc is
taken only after a passive OPEN (note 1); FIN-WAIT-1 → TIME-WAIT when a FIN
arrives that also acknowledges our FIN is *not* drawn (note 2); nor are the
transitions that send or receive a RST from any state (note 3).
"""

from __future__ import annotations

from typing import NamedTuple

SOURCE = "RFC 9293 §3.3.2, Figure 5"


class Arc(NamedTuple):
    src: str
    dst: str
    event: str
    action: str = ""


ARCS: tuple[Arc, ...] = (
    Arc("CLOSED", "LISTEN", "passive OPEN", "create TCB"),
    Arc("CLOSED", "SYN_SENT", "active OPEN", "create TCB, snd SYN"),
    Arc("LISTEN", "CLOSED", "CLOSE", "delete TCB"),
    Arc("LISTEN", "SYN_RECEIVED", "rcv SYN", "snd SYN,ACK"),
    Arc("LISTEN", "SYN_SENT", "SEND", "snd SYN"),
    Arc("SYN_SENT", "CLOSED", "CLOSE", "delete TCB"),
    Arc("SYN_SENT", "SYN_RECEIVED", "rcv SYN", "snd SYN,ACK"),
    Arc("SYN_SENT", "ESTABLISHED", "rcv SYN,ACK", "snd ACK"),
    Arc("SYN_RECEIVED", "LISTEN", "rcv RST (note 1)"),
    Arc("SYN_RECEIVED", "ESTABLISHED", "rcv ACK of SYN"),
    Arc("SYN_RECEIVED", "FIN_WAIT_1", "CLOSE", "snd FIN"),
    Arc("ESTABLISHED", "FIN_WAIT_1", "CLOSE", "snd FIN"),
    Arc("ESTABLISHED", "CLOSE_WAIT", "rcv FIN", "snd ACK"),
    Arc("FIN_WAIT_1", "FIN_WAIT_2", "rcv ACK of FIN"),
    Arc("FIN_WAIT_1", "CLOSING", "rcv FIN", "snd ACK"),
    Arc("FIN_WAIT_2", "TIME_WAIT", "rcv FIN", "snd ACK"),
    Arc("CLOSING", "TIME_WAIT", "rcv ACK of FIN"),
    Arc("CLOSE_WAIT", "LAST_ACK", "CLOSE", "snd FIN"),
    Arc("LAST_ACK", "CLOSED", "rcv ACK of FIN"),
    Arc("TIME_WAIT", "CLOSED", "Timeout=2MSL", "delete TCB"),
)
PAIRS = frozenset((a.src, a.dst) for a in ARCS)


def is_arc(src: str, dst: str, declared: tuple[tuple[str, str], ...]) -> bool:
    """Whether a rule's step from ``src`` to ``dst`` draws an arc of Figure 5:
    the pair is one of the figure's arcs, and the rule declares it (its
    ``fig5``), so that another step between the same states (a
    ``disconnect()`` from LISTEN to CLOSED) is not taken for the figure's."""
    return (src, dst) in PAIRS and (src, dst) in declared
