"""Inductive invariants found by Spacer, stored as SMT-LIB text.

``properties/certificates/<property>.smt2`` holds one formula over the state
variables of :mod:`tcpconform.properties.compose`.  It is a proof only after
:func:`tcpconform.properties.engine.check_certificate` re-checks it against the current
rules: a certificate found for other rules fails there and is replaced by a
new Spacer run (``conform prove`` writes it).
"""

from __future__ import annotations

from pathlib import Path

import z3

from tcpconform.model import z3enc as E

from tcpconform.properties import store
from tcpconform.properties.compose import PORT, SEG, Composed

DIR = Path(__file__).resolve().parent / "certificates"


def path(name: str) -> Path:
    """The stored certificate of a property, where it is read from (see
    :mod:`tcpconform.properties.store`)."""
    return store.readable(DIR, f"{name}.smt2")


def _sorts() -> dict:
    doms = [*E.FIELD_DOMAINS.values(), SEG, PORT]
    return {str(d.sort): d.sort for d in doms if d.sort != z3.BoolSort()}


def load(name: str, c: Composed) -> z3.BoolRef | None:
    """The stored invariant for a property, read over ``c``'s state variables
    (None when there is none, or it names variables the system lacks)."""
    p = path(name)
    if not p.exists():
        return None
    try:
        parsed = z3.parse_smt2_string(f"(assert {p.read_text()})", sorts=_sorts(), decls=dict(c.cur))
    except z3.Z3Exception:
        return None
    return z3.And(*parsed)


def save(name: str, invariant: z3.BoolRef) -> None:
    store.writable(DIR, f"{name}.smt2").write_text(invariant.sexpr() + "\n")
