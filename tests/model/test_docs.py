"""Documents derived from the rule table are never stale."""

import dataclasses

from tcpconform.model import doc, rules


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
