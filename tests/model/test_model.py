"""The rule table validates itself; broken tables are refused."""

import dataclasses

import pytest

from tcpconform.model import rules, selfcheck, semantics, vocab
from tcpconform.model.table import case, out

# Kernel checks the model keeps for fidelity that no reachable endpoint
# reaches (every non-CLOSED socket is already bound, so bind/listen fail
# earlier).  Any other never-firing case is a dead rule and fails the test.
DEFENSIVE = {"bind.state", "listen.state", "send.error2"}


def test_static_validation_accepts_the_table():
    selfcheck.validate_static()


@pytest.mark.slow
@pytest.mark.parametrize("profile", vocab.PROFILES)
def test_every_state_reachable_and_every_call_answered(profile):
    report = selfcheck.validate_dynamic(profile)
    assert report["states"] == sorted(vocab.STATES)
    assert set(report["never_fired"]) <= DEFENSIVE, report["never_fired"]


def _broken(case_id, **changes):
    cases = list(rules.CASES)
    i = next(i for i, c in enumerate(cases) if c.id == case_id)
    c = cases[i]
    o = dataclasses.replace(c.outcomes[0], **changes)
    cases[i] = dataclasses.replace(c, outcomes=(o,) + c.outcomes[1:])
    return cases


def test_a_target_that_is_not_a_state_is_refused():
    with pytest.raises(selfcheck.ModelDefinitionError, match="not a value of its domain"):
        selfcheck.validate_static(_broken("est.fin", set={"st": "HALF_OPEN"}))


def test_an_unknown_segment_is_refused():
    with pytest.raises(selfcheck.ModelDefinitionError, match="unknown segment"):
        selfcheck.validate_static(_broken("close.fin", emit=("FINN",)))


def test_a_guard_on_an_unknown_field_is_refused():
    bad = list(rules.CASES) + [case("x.bad", "call:send", dict(colour="red"), out(), source="none")]
    with pytest.raises(selfcheck.ModelDefinitionError, match="unknown 'colour'"):
        selfcheck.validate_static(bad)


def test_a_rule_without_source_is_refused():
    bad = list(rules.CASES) + [case("x.nosrc", "call:send", None, out(), source="")]
    with pytest.raises(selfcheck.ModelDefinitionError, match="cites no source"):
        selfcheck.validate_static(bad)


def test_duplicate_ids_are_refused():
    with pytest.raises(selfcheck.ModelDefinitionError, match="used twice"):
        selfcheck.validate_static(list(rules.CASES) + [rules.CASES[0]])


def test_unreachable_state_is_detected():
    # Without the arcs into TIME_WAIT the exploration must report it missing.
    cut = tuple(c for c in rules.CASES
                if not any(o.set.get("st") == "TIME_WAIT" for o in c.outcomes))
    with pytest.raises(selfcheck.ModelDefinitionError, match="TIME_WAIT"):
        selfcheck.validate_dynamic("linux", cut)


def test_first_match_wins_follows_table_order():
    ep = semantics.INITIAL  # fresh socket: send → EPIPE on linux, ENOTCONN on posix
    assert [r.ret for r in semantics.step(ep, "call:send", "linux", {}, {"len": 5, "n": 5})] == ["EPIPE"]
    assert [r.ret for r in semantics.step(ep, "call:send", "posix", {}, {"len": 5, "n": 5})] == ["ENOTCONN"]


def test_every_case_cites_rfc_linux_or_observation():
    for c in rules.CASES:
        assert any(tag in c.source for tag in ("R9293", "[E]", "[P", ".c", "[C]", "tcpconform.model.system", "nothing to do")), c.id
