"""The endpoint state space, pinned: a change of the table's meaning shows here.

The numbers are what :func:`tcpconform.model.space.explore` finds from
``socket()``'s endpoints (rcvq explored as 0, 1, 2).  A rule change that
is meant to change what one endpoint can do changes them: check that the
new numbers are the change you meant, then copy them into ``PINNED``.
"""

import dataclasses

import pytest

from tcpconform.model import rules, semantics, space, vocab

PINNED = {
    "linux": {
        "counts": {"endpoints": 1654, "open_descriptor_endpoints": 1104, "transitions": 189938,
                   "state_changes": 7680, "cases_deciding": 153, "depth": 10},
        "per_state": {"CLOSED": 822, "LISTEN": 16, "SYN_SENT": 16, "SYN_RECEIVED": 36, "ESTABLISHED": 152,
                      "FIN_WAIT_1": 84, "FIN_WAIT_2": 84, "CLOSE_WAIT": 156, "CLOSING": 84, "LAST_ACK": 60,
                      "TIME_WAIT": 144},
    },
    "linux-6.1": {
        "counts": {"endpoints": 1838, "open_descriptor_endpoints": 1264, "transitions": 211994,
                   "state_changes": 9120, "cases_deciding": 151, "depth": 10},
        "per_state": {"CLOSED": 942, "LISTEN": 80, "SYN_SENT": 16, "SYN_RECEIVED": 36, "ESTABLISHED": 152,
                      "FIN_WAIT_1": 84, "FIN_WAIT_2": 84, "CLOSE_WAIT": 156, "CLOSING": 84, "LAST_ACK": 60,
                      "TIME_WAIT": 144},
    },
    "posix": {
        "counts": {"endpoints": 1798, "open_descriptor_endpoints": 1224, "transitions": 209946,
                   "state_changes": 8812, "cases_deciding": 151, "depth": 10},
        "per_state": {"CLOSED": 942, "LISTEN": 80, "SYN_SENT": 16, "SYN_RECEIVED": 32, "ESTABLISHED": 140,
                      "FIN_WAIT_1": 84, "FIN_WAIT_2": 84, "CLOSE_WAIT": 144, "CLOSING": 84, "LAST_ACK": 48,
                      "TIME_WAIT": 144},
    },
}

HOW_TO_UPDATE = ("the endpoint state space of the {p} profile changed: it is now {now}.  If the rule change "
                 "was meant to change what an endpoint can do, copy these numbers into PINNED in "
                 "tests/model/test_space.py (and say in the commit why they changed); otherwise a rule "
                 "changed meaning by accident")


@pytest.mark.slow   # measured above 5 s (pytest --durations)
@pytest.mark.parametrize("profile", vocab.PROFILES)
def test_state_space_size_is_pinned(profile):
    ex = space.explore(profile)
    now = {"counts": ex.counts(), "per_state": ex.per_state()}
    assert now == PINNED[profile], HOW_TO_UPDATE.format(p=profile, now=now)


def test_a_changed_rule_changes_the_pinned_numbers():
    # fw1.ackfin sent to CLOSING instead of FIN_WAIT_2: what one endpoint can do changes
    edited = tuple(dataclasses.replace(c, outcomes=tuple(dataclasses.replace(o, set={**o.set, "st": "CLOSING"})
                                                         for o in c.outcomes))
                   if c.id == "fw1.ackfin" else c for c in rules.CASES)
    ex = space.explore("linux", edited)
    assert {"counts": ex.counts(), "per_state": ex.per_state()} != PINNED["linux"]


def test_every_transition_is_a_step_of_the_semantics():
    """Each transition is a result of the semantics on its endpoint; each
    endpoint it reaches is in the space (rcvq capped as explored)."""
    ex = space.explore("linux")
    assert sorted(set(ex.reach.values()))[0] == 0
    for t in ex.transitions[::37]:
        assert t.src in ex.reach
        assert t.dst is None or t.dst in ex.reach
        results = semantics.step(t.src, t.trigger, "linux", t.inputs, t.params)
        assert t.outcome.name in {r.outcome for r in results}, t
        assert t.ret in {r.ret for r in results if r.outcome == t.outcome.name}, t


def _held_endpoints(ev, profile):
    """Every endpoint the plain engine's frontier (parked connections included)
    holds while it checks the trace ``ev`` under ``profile``."""
    from tcpconform.check.plain import PlainSearch
    engine = PlainSearch(profile, ev.header.world)
    held = set()

    def look():
        for cfg in list(engine.frontier) + [c for cs in engine.parked.values() for c in cs]:
            held.update(e.core._replace(rcvq=min(e.core.rcvq, space.RCVQ_CAP)) for _k, e in cfg.eps)
    for e in ev.events:
        if engine.feed(e) is not None:
            return None
        look()
    return held


def test_every_endpoint_a_recorded_trace_reaches_is_composed():
    """:func:`space.composed` holds every endpoint the checker's frontier holds
    on the recorded traces (scenarios, mined sequences, the tests' own): the
    reachable-endpoint proofs rest on it; :func:`space.explore` alone misses the
    endpoints the system makes itself (a connection left behind, a closed name)."""
    from pathlib import Path
    from tcpconform.properties import adequacy
    traces = adequacy.read_corpus(adequacy.corpus_dir()) + adequacy.read_dir(Path(__file__).parents[1] / "traces")
    missed_by_explore = set()
    for ev in traces:
        profile = ev.header.profile
        held = _held_endpoints(ev, profile)
        if held is None:
            continue
        outside = held - space.composed(profile)
        assert not outside, (ev.name, sorted(outside)[:3])
        missed_by_explore |= held - set(space.explore(profile).reach)
    assert any(ep.st == "TIME_WAIT" and ep.fd == "closed" for ep in missed_by_explore), missed_by_explore
