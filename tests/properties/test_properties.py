"""One test per property: proven for every reachable state, not vacuous, and
refuted under its named mutant; and tests that would fail if a property
were dropped from the catalog, made vacuous, or proved only to a bound.

A proof here is the re-check of the stored inductive invariant against the
current rules (init ⇒ I, I ∧ T ⇒ I', I ∧ T ⇒ P): unbounded, and failing as
soon as the rules change under it (then ``conform prove`` runs Spacer again
and stores the new invariant).
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import z3

from tcpconform import cli
from tcpconform.properties import catalog, certificates, engine, mutants, prove
from tcpconform.properties.compose import CLIENTS, system
from tests.helpers import proved

REQUIRED = {  # issue 3's invariants (1)-(9), by number, and the others the catalog must keep
    1: "no_send_before_established",
    2: "listener_carries_no_data",
    3: "accepted_has_listener_address",
    4: "listener_stays_listen_across_accept",
    5: "eof_only_after_fin",
    6: "received_within_sent",
    7: "time_wait_only_after_own_fin_first",
    8: "connect_no_second_handshake",
    9: "refused_before_listen",
    "S12": "accept_returns_completed_connection",
    "FIN": "no_data_after_fin",
}
UNBOUNDED = {"certificate", "spacer"}  # the methods that prove for every reachable state


@pytest.mark.parametrize("prop", catalog.CATALOG, ids=lambda p: p.name)
def test_property(prop: catalog.Property) -> None:
    c = system()
    inv = certificates.load(prop.name, c)
    assert inv is not None, f"no certificate for {prop.name}: run `conform prove {prop.name}`"

    r = prove.prove_one(prop, c, store=False)
    assert r["verdict"] == "proven", f"{prop.name}: {r}"
    assert r["method"] == "certificate", (
        f"{prop.name}: stored invariant no longer proves it ({r.get('detail')}); run `conform prove {prop.name}`")
    assert r["premise"]["verdict"] == "witnessed", f"{prop.name} is vacuous: {r['premise']}"

    mc = system(mutants.mutant(prop.mutant))
    broken = engine.check_certificate(mc, prop.formula(mc), inv)
    assert broken.verdict != "proven", f"the certificate of {prop.name} survives mutant {prop.mutant}"
    # a run of the mutant that violates the property: the stored one re-checked against the
    # mutant's relation, else found by BMC
    cex = prove.against_mutant(prop, store=False)
    assert cex["verdict"] == "refuted" and cex["counterexample"], (
        f"no counterexample to {prop.name} under {prop.mutant}")


def test_catalog_covers_the_issue() -> None:
    """Dropping a property (or its entry here) fails: every invariant (1)-(9)
    of issue 3 has its property in the catalog, with an origin, a mutant and
    a stored certificate."""
    names = [p.name for p in catalog.CATALOG]
    assert len(names) == len(set(names))
    assert set(range(1, 10)) <= set(REQUIRED), "an invariant of issue 3 has no property"
    missing = set(REQUIRED.values()) - set(names)
    assert not missing, f"dropped from the catalog: {sorted(missing)}"
    for p in catalog.CATALOG:
        assert p.origin and p.text
        assert p.mutant in mutants.MUTANTS
        assert certificates.path(p.name).exists()


def test_vacuous_premise_is_reported_not_witnessed(monkeypatch, tmp_path, capsys) -> None:
    """A property whose premise is made unreachable is not reported as
    holding: its premise is not witnessed and ``conform prove`` exits 1,
    although its formula is still proven.  (Certificates and stored runs
    are read from and written to a scratch copy: the vacuous search must not
    be recorded under the real premise's name.)"""
    from tcpconform.properties import runs
    p = catalog.BY_NAME["listener_stays_listen_across_accept"]
    vacuous = dataclasses.replace(p, premise=lambda c: z3.And(p.premise(c), z3.BoolVal(False)))
    (tmp_path / "certificates").mkdir()
    (tmp_path / "runs").mkdir()
    shutil.copy(certificates.path(p.name), tmp_path / "certificates")
    monkeypatch.setattr(certificates, "DIR", tmp_path / "certificates")
    monkeypatch.setattr(runs, "DIR", tmp_path / "runs")
    r = prove.prove_one(vacuous, system(), store=False)
    assert r["verdict"] == "proven" and r["premise"]["verdict"] != "witnessed"
    monkeypatch.setitem(catalog.BY_NAME, p.name, vacuous)
    assert cli.main(["prove", p.name, "--json"]) == 1
    (row,) = proved(json.loads(capsys.readouterr().out), "property")
    assert row["premise"]["verdict"] != "witnessed"


@pytest.mark.slow   # measured above 5 s (pytest --durations)
def test_truth_to_a_bound_is_not_a_proof() -> None:
    """A claim that holds for the first steps only ("no client ever reaches
    ESTABLISHED": three steps find no violation) is refuted, never reported
    proven: a bounded search is not the method of any proof."""
    c = system()
    bounded = catalog.Property(
        "no_client_ever_established", "test", "no client reaches ESTABLISHED",
        lambda c: z3.And([z3.Not(c.st_in(s, {"ESTABLISHED"}, nxt=True)) for s in CLIENTS]),
        lambda c: z3.BoolVal(True), "send_in_syn_sent")
    assert engine.bmc(c, z3.Not(bounded.formula(c)), depth=3).verdict == "unreached"
    r = prove.prove_one(bounded, c, store=False)
    assert r["verdict"] == "refuted" and r["method"] in UNBOUNDED
    assert r["counterexample"] and len(r["counterexample"]) == 4


@pytest.mark.parametrize("prop", [p for p in catalog.CATALOG if p.strengthening], ids=lambda p: p.name)
def test_strengthening_clauses_are_each_needed(prop: catalog.Property) -> None:
    """A hand-written strengthening proves its property, and each of its
    clauses is still forced: without it the re-check fails (the
    counterexample to induction the clause records exists)."""
    c = system()
    formula = prop.formula(c)
    assert engine.check_certificate(c, formula, catalog.strengthened(prop, c)).verdict == "proven"
    for k in prop.strengthening:
        assert k.forced_by
        rest = z3.And([x.formula(c) for x in prop.strengthening if x is not k])
        assert engine.check_certificate(c, formula, rest).verdict != "proven", f"not needed: {k.text}"


def test_mutants_change_the_table() -> None:
    from tcpconform.model import rules
    for name in mutants.MUTANTS:
        assert mutants.mutant(name) != tuple(rules.CASES), name


def test_spacer_finds_an_invariant_that_recertifies() -> None:
    """The certificates come from Spacer: it proves a property from scratch and
    its invariant passes the plain-z3 re-check."""
    c = system()
    p = catalog.BY_NAME["no_send_before_established"]
    ans = engine.spacer(c, p.formula(c), timeout_ms=30_000)
    assert ans.verdict == "proven"
    assert engine.check_certificate(c, p.formula(c), ans.invariant).verdict == "proven"


def test_trivial_invariant_is_not_a_certificate() -> None:
    """``True`` does not prove a property that needs history (a stale or
    empty certificate fails, it does not pass)."""
    c = system()
    p = catalog.BY_NAME["refused_before_listen"]
    assert engine.check_certificate(c, p.formula(c), z3.BoolVal(True)).verdict != "proven"


def test_prove_command_json(capsys) -> None:
    code = cli.main(["prove", "connect_no_second_handshake", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    (r,) = proved(out, "property")
    assert r["verdict"] == "proven" and r["method"] in ("certificate", "spacer")
    assert r["premise"]["verdict"] == "witnessed"


def test_prove_refutes_a_mutant_with_a_counterexample() -> None:
    """Under a broken table the stored certificate fails, Spacer refutes, and
    the report carries the shortest counterexample run."""
    p = catalog.BY_NAME["connect_no_second_handshake"]
    r = prove.prove_one(p, system(mutants.mutant(p.mutant)), store=False)
    assert r["verdict"] == "refuted" and r["method"] == "spacer"
    last = r["counterexample"][-1]
    assert last["trigger"] == "call:connect" and last["states"][last["act"]] == "SYN_SENT"


def test_counterexample_is_drawn_as_a_sequence_chart(tmp_path, capsys):
    """conform prove --mutant --diagram: the broken table's counterexample, drawn."""
    rc = cli.main(["prove", "no_send_before_established", "--mutant", "--diagram", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "refuted" in out and "call:send" in out
    dot = (tmp_path / "no_send_before_established-counterexample.dot").read_text()
    assert "send" in dot and "SYN_SENT" in dot
