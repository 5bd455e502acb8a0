"""Documents derived from the rule table are never stale."""

import dataclasses

from tcpconform.model import doc, rules, vocab


def test_rules_doc_is_fresh():
    assert doc.DOC_PATH.read_text() == doc.render(), "run: bin/dev python -m tcpconform.model.doc --write"


def test_every_case_appears_once():
    text = doc.render()
    for c in rules.CASES:
        assert text.count(f"`{c.id}`") >= 1, c.id


def test_changing_a_rule_changes_the_doc():
    cases = list(rules.CASES)
    i = next(i for i, c in enumerate(cases) if c.id == "send.never")
    o = dataclasses.replace(cases[i].outcomes[0], ret="ENOTCONN")
    cases[i] = dataclasses.replace(cases[i], outcomes=(o,) + cases[i].outcomes[1:])
    assert doc.render(cases) != doc.render()


# The structured facts of a case and its prose say the same thing.  Code reads
# only the fields; these tests keep a note or source that says it from
# drifting away from them.
def test_fig5_field_matches_the_source():
    for c in rules.CASES:
        assert bool(c.fig5) == ("Fig. 5" in c.source), c.id


def test_in_order_field_matches_the_note():
    for c in rules.CASES:
        assert c.in_order == ("unreachable on an in-order channel" not in c.note), c.id


def test_departs_field_matches_the_note():
    words = ("depart", "Linux says", "Linux reports", "Linux returns", "Linux-only", "Linux:",
             "Linux keeps", "seed's S12")
    for c in rules.CASES:
        assert bool(c.departs) == any(w in c.note for w in words), c.id
        said = "Linux departs" in c.note or "Linux-only" in c.note
        assert (c.departs == "transition") == (said or vocab.RFC_ONLY in c.profiles), c.id


def test_departures_section_lists_the_departing_cases():
    text = doc.render()
    section = text.split("## Where Linux departs", 1)[1].split("\n## ", 1)[0]
    assert {c.id for c in rules.CASES if c.departs} == {
        line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
