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
        "counts": {"endpoints": 1736, "open_descriptor_endpoints": 1142, "transitions": 58459,
                   "state_changes": 6832, "cases_deciding": 114, "depth": 10},
        "per_state": {"CLOSED": 822, "LISTEN": 16, "SYN_SENT": 16, "SYN_RECEIVED": 32, "ESTABLISHED": 164,
                      "FIN_WAIT_1": 98, "FIN_WAIT_2": 98, "CLOSE_WAIT": 168, "CLOSING": 98, "LAST_ACK": 62,
                      "TIME_WAIT": 162},
    },
    "linux-6.1": {
        "counts": {"endpoints": 1782, "open_descriptor_endpoints": 1182, "transitions": 60023,
                   "state_changes": 7104, "cases_deciding": 112, "depth": 10},
        "per_state": {"CLOSED": 852, "LISTEN": 32, "SYN_SENT": 16, "SYN_RECEIVED": 32, "ESTABLISHED": 164,
                      "FIN_WAIT_1": 98, "FIN_WAIT_2": 98, "CLOSE_WAIT": 168, "CLOSING": 98, "LAST_ACK": 62,
                      "TIME_WAIT": 162},
    },
    "posix": {
        "counts": {"endpoints": 1782, "open_descriptor_endpoints": 1182, "transitions": 60295,
                   "state_changes": 7104, "cases_deciding": 112, "depth": 10},
        "per_state": {"CLOSED": 852, "LISTEN": 32, "SYN_SENT": 16, "SYN_RECEIVED": 32, "ESTABLISHED": 164,
                      "FIN_WAIT_1": 98, "FIN_WAIT_2": 98, "CLOSE_WAIT": 168, "CLOSING": 98, "LAST_ACK": 62,
                      "TIME_WAIT": 162},
    },
}

HOW_TO_UPDATE = ("the endpoint state space of the {p} profile changed: it is now {now}.  If the rule change "
                 "was meant to change what an endpoint can do, copy these numbers into PINNED in "
                 "tests/model/test_space.py (and say in the commit why they changed); otherwise a rule "
                 "changed meaning by accident")


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
