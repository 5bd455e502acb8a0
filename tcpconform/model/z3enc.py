"""The rule table read as z3: a second interpreter of :data:`tcpconform.model.rules.CASES`.

Nothing here restates a rule.  :func:`encode` walks the cases of one
trigger, exactly as :func:`tcpconform.model.semantics.step` does, and turns each DSL
construct into a formula instead of evaluating it:

=============================  ==============================================
DSL construct                  z3 (function below)
=============================  ==============================================
guard key ``k`` allowed ``S``  ``Or(k == v for v in S)``           (:func:`atom`)
``rcvq`` sign pos / zero       ``rcvq > 0`` / ``rcvq == 0``        (:func:`atom`)
a guard (all its keys)         ``And(atom ...)``                   (:func:`guard`)
first match wins               ``g_i And Not(g_j)`` for every earlier ``j``
                                                                   (:func:`first_match`)
byte-count rule ``n=``         as :func:`tcpconform.model.semantics.n_ok`      (:func:`n_rule`)
field update ``set=``          literal, or an ``If`` over the pre-state for
                               ``$release``, ``$claim``, ``$connecting->X``
                                                                   (:func:`set_value`)
fields not set                 ``post.f == pre.f``                 (:func:`post_state`)
``rcvq=`` effect               ``rcvq - n`` / ``rcvq + segn`` / ``0`` (:func:`rcvq_effect`)
``ret``                        a literal, or the errno ``pre.err`` names for
                               ``$err``                            (:func:`ret_term`)
one outcome                    all of the above plus ``emit``/``tags`` bits and
                               the outcome's index                 (:func:`outcome_formula`)
=============================  ==============================================

The variables (one set, shared by every encoding, so encodings of several
triggers compose with ``Or``) are:

* ``pre.<f>`` / ``post.<f>`` for every endpoint field: enumeration sorts for
  the string domains of :data:`tcpconform.model.vocab.FINITE_FIELDS`, ``Bool`` for the
  boolean ones, ``Int`` for ``rcvq``;
* ``in.<k>`` for the system facts of :data:`tcpconform.model.vocab.INPUTS` (``Bool``);
* ``par.seg``, ``par.how`` (enumerations), ``par.linger0`` (``Bool``),
  ``par.len`` with ``par.has_len`` (``len`` may be absent: then only
  ``zero`` and outcomes without a byte-count rule admit a count), ``par.n`` (the count the call
  returned, always concrete) and ``par.segn`` (bytes of an arriving DATA);
* outputs ``out.ret`` (an enumeration of every return value: ``ok``,
  ``WAIT``, every errno of the table and of :data:`tcpconform.model.vocab.ERRS`),
  ``out.emit.<SEG>`` and ``out.tag.<tag>`` (``Bool``), and ``out.outcome``,
  an ``Int`` indexing :attr:`Encoding.outcomes`;
* ``trigger`` (an enumeration) in :func:`transition_relation` only.

:func:`successors` enumerates the models of an encoding with the pre-state,
inputs and parameters fixed, and returns them in the shape
``(outcome name, ret, post Endpoint, frozenset(emit), frozenset(tags))`` —
the shape :func:`normalize` gives a :class:`tcpconform.model.semantics.Result`, so the two
interpreters can be compared (tests/test_z3_agreement.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import z3

from tcpconform.model import rules, vocab
from tcpconform.model.semantics import CONNECTING_TO, Endpoint, Result, apply
from tcpconform.model.table import N_RULES, PARAMS, RCVQ_EFFECTS, RCVQ_SIGNS, RELEASE, TAGS, VALUES, Case, Outcome


# ---------------------------------------------------------------------------
# Domains: a finite set of Python values read as a z3 sort
# ---------------------------------------------------------------------------

class Finite:
    """A finite domain of Python values as a z3 sort: ``Bool`` for
    ``(False, True)``, otherwise an enumeration sort whose constants are
    named ``<sort>.<value>``."""

    def __init__(self, name: str, values: Iterable[Any]):
        self.name = name
        self.values = tuple(values)
        if self.values == (False, True):
            self.sort = z3.BoolSort()
            consts = [z3.BoolVal(False), z3.BoolVal(True)]
        else:
            self.sort, consts = z3.EnumSort(name, [f"{name}.{v}" for v in self.values])
        self._lit = dict(zip(self.values, consts))
        self._value = {str(c): v for v, c in self._lit.items()}

    def lit(self, value: Any) -> z3.ExprRef:
        """The z3 constant for a Python value (KeyError outside the domain)."""
        return self._lit[value]

    def var(self, name: str) -> z3.ExprRef:
        return z3.Const(name, self.sort)

    def member(self, x: z3.ExprRef, allowed: Iterable[Any]) -> z3.BoolRef:
        """``x`` takes one of the allowed values.  Membership is decided by
        Python's ``in``, as :func:`tcpconform.model.semantics.holds` decides it."""
        allowed = frozenset(allowed)
        return z3.Or([x == self._lit[v] for v in self.values if v in allowed])

    def decode(self, value: z3.ExprRef) -> Any:
        """The Python value of a z3 constant of this sort (from a model)."""
        if self.sort == z3.BoolSort():
            return z3.is_true(value)
        return self._value[str(value)]


_SORT_NAMES = {"st": "State", "ss": "SockState", "fd": "Fd", "bound": "Bound", "err": "Err"}

FIELD_DOMAINS: dict[str, Finite] = {
    k: Finite(_SORT_NAMES.get(k, k), vals) for k, vals in vocab.FINITE_FIELDS.items()
}
INPUT_DOMAINS: dict[str, Finite] = {k: Finite(k, vals) for k, vals in vocab.INPUTS.items()}
# Finite call parameters a guard may test: the segment kind, plus tcpconform.model.table.PARAMS.
PARAM_DOMAINS: dict[str, Finite] = {
    "seg": Finite("Seg", vocab.SEGMENTS),
    **{k: Finite("How" if k == "how" else k, vals) for k, vals in PARAMS.items()},
}
# Integer parameters (and the flag saying whether ``len`` was given).
INT_PARAMS = ("len", "n", "segn")


def _dedup(values: Iterable[Any]) -> tuple:
    return tuple(dict.fromkeys(values))


# Every value a step can return: ok, WAIT, every pending error ``$err`` may
# name, and every errno the table writes.
RET_VALUES = _dedup((vocab.OK, vocab.WAIT, *vocab.ERRS,
                     *(o.ret for c in rules.CASES for o in c.outcomes if o.ret != vocab.RET_ERR)))
RET = Finite("Ret", RET_VALUES)

# Every trigger the vocabulary can name (and any other the table uses).
TRIGGER_VALUES = _dedup((*(f"call:{op}" for op in vocab.ALL_CALLS), "seg",
                         *(f"timer:{t}" for t in vocab.TIMERS), *(c.trigger for c in rules.CASES)))
TRIGGER = Finite("Trigger", TRIGGER_VALUES)
# What a call returns besides ret (tcpconform.model.table.VALUES), "none" for nothing.
VALUE = Finite("Value", ("none",) + VALUES)
VALUE_VAR = VALUE.var("out.value")


# ---------------------------------------------------------------------------
# The variables, one set shared by every encoding
# ---------------------------------------------------------------------------

def _state(prefix: str) -> dict[str, z3.ExprRef]:
    vs = {f: d.var(f"{prefix}.{f}") for f, d in FIELD_DOMAINS.items()}
    vs.update({f: z3.Int(f"{prefix}.{f}") for f in vocab.INT_FIELDS})
    return vs


PRE = _state("pre")
POST = _state("post")
INP = {k: d.var(f"in.{k}") for k, d in INPUT_DOMAINS.items()}
PAR: dict[str, z3.ExprRef] = {k: d.var(f"par.{k}") for k, d in PARAM_DOMAINS.items()}
PAR.update({k: z3.Int(f"par.{k}") for k in INT_PARAMS})
PAR["has_len"] = z3.Bool("par.has_len")
RET_VAR = RET.var("out.ret")
EMIT = {s: z3.Bool(f"out.emit.{s}") for s in vocab.SEGMENTS}
TAG = {t: z3.Bool(f"out.tag.{t}") for t in TAGS}
OUTCOME = z3.Int("out.outcome")
TRIGGER_VAR = TRIGGER.var("trigger")

# Well-formed configurations: byte counts are never negative.
DOMAIN = z3.And(PRE["rcvq"] >= 0, PAR["len"] >= 0, PAR["n"] >= 0, PAR["segn"] >= 0)


def outcome_names(cases: Sequence[Case] = rules.CASES) -> tuple[str, ...]:
    """Every outcome of the table, in table order; ``out.outcome == i``
    means outcome ``outcome_names(cases)[i]`` was taken.  The index is the
    same in every encoding built from one table."""
    return tuple(o.name for c in cases for o in c.outcomes)


# ---------------------------------------------------------------------------
# One function per DSL construct
# ---------------------------------------------------------------------------

def atom(key: str, allowed: frozenset) -> z3.BoolRef:
    """One guard key (semantics._value): ``rcvq`` is tested through its sign,
    a field on the pre-state, an input, or a call parameter."""
    if key == "rcvq":
        q = PRE["rcvq"]
        signs = {"pos": q > 0, "zero": q == 0}
        return z3.Or([signs[s] for s in RCVQ_SIGNS if s in allowed])
    for vars_, doms in ((PRE, FIELD_DOMAINS), (INP, INPUT_DOMAINS), (PAR, PARAM_DOMAINS)):
        if key in doms:
            return doms[key].member(vars_[key], allowed)
    raise KeyError(f"rule guard tests {key!r}, which the encoding does not know")


def guard(g: Mapping[str, frozenset]) -> z3.BoolRef:
    """A guard: every key's test holds (the empty guard is ``True``)."""
    return z3.And([atom(k, allowed) for k, allowed in g.items()])


def first_match(guards: Sequence[z3.BoolRef]) -> list[z3.BoolRef]:
    """First match wins: case ``i`` decides when its guard holds and the
    guard of no earlier case of the same trigger and profile does."""
    return [z3.And(g, *[z3.Not(h) for h in guards[:i]]) for i, g in enumerate(guards)]


def n_rule(rule: str | None) -> z3.BoolRef:
    """semantics.n_ok with the returned count ``n`` given: ``None`` (the
    call returns no byte count) admits any n; ``zero`` admits n == 0; the
    others need ``len`` and admit n == len (``len``), 1 <= n < len
    (``partial``), 1 <= n <= min(len, rcvq) (``upto_rcvq``)."""
    n, length = PAR["n"], PAR["len"]
    if rule is None:
        return z3.BoolVal(True)
    if rule == "zero":
        return n == 0
    if rule not in N_RULES:
        raise ValueError(f"unknown byte-count rule {rule!r}")
    body = {
        "len": n == length,
        "partial": z3.And(1 <= n, n < length),
        "upto_rcvq": z3.And(1 <= n, n <= length, n <= PRE["rcvq"]),
    }[rule]
    return z3.And(PAR["has_len"], body)


def set_value(key: str, value: Any) -> z3.ExprRef:
    """The new value of one field an outcome sets (semantics.apply_set),
    special values resolved against the pre-state."""
    if key not in FIELD_DOMAINS:
        raise KeyError(f"an outcome sets {key!r}, which is no finite endpoint field")
    dom, bound = FIELD_DOMAINS[key], FIELD_DOMAINS["bound"]
    if value == RELEASE:    # auto -> no, else unchanged
        return z3.If(PRE["bound"] == bound.lit("auto"), bound.lit("no"), PRE["bound"])
    if value == rules.CLAIM:  # no -> auto, else unchanged
        return z3.If(PRE["bound"] == bound.lit("no"), bound.lit("auto"), PRE["bound"])
    if isinstance(value, str) and value.startswith(CONNECTING_TO):
        ss = FIELD_DOMAINS["ss"]
        return z3.If(PRE["ss"] == ss.lit("CONNECTING"), dom.lit(value[len(CONNECTING_TO):]), PRE["ss"])
    return dom.lit(value)


def rcvq_effect(effect: str | None) -> z3.ArithRef:
    """semantics.rcvq_after: the receive queue after the step."""
    q = PRE["rcvq"]
    if effect is None:
        return q
    if effect not in RCVQ_EFFECTS:
        raise ValueError(f"unknown rcvq effect {effect!r}")
    return {"minus_n": q - PAR["n"], "plus_seg": q + PAR["segn"], "zero": z3.IntVal(0)}[effect]


def post_state(o: Outcome) -> z3.BoolRef:
    """Every field of the post-state: what the outcome sets, else unchanged;
    ``rcvq`` (which ``set`` never names) as the outcome's effect says."""
    sets = {key: set_value(key, value) for key, value in o.set.items()}
    eqs = [POST[f] == sets.get(f, PRE[f]) for f in FIELD_DOMAINS]
    return z3.And(*eqs, POST["rcvq"] == rcvq_effect(o.rcvq))


def ret_term(ret: str) -> z3.ExprRef:
    """The value returned: a literal, or for ``$err`` the value named by the
    pre-state's pending error."""
    if ret != vocab.RET_ERR:
        return RET.lit(ret)
    term = RET.lit(vocab.ERRS[-1])
    for e in reversed(vocab.ERRS[:-1]):
        term = z3.If(PRE["err"] == FIELD_DOMAINS["err"].lit(e), RET.lit(e), term)
    return term


def outcome_formula(o: Outcome, index: int) -> z3.BoolRef:
    """One outcome taken: its own guard and byte-count rule hold, and the
    outputs and post-state are the ones it gives."""
    for s in o.emit:
        if s not in EMIT:
            raise KeyError(f"outcome {o.name} emits {s!r}, no segment kind")
    for t in o.tags:
        if t not in TAG:
            raise KeyError(f"outcome {o.name} has tag {t!r}, not in tcpconform.model.table.TAGS")
    return z3.And(
        guard(o.when),
        n_rule(o.n),
        OUTCOME == index,
        RET_VAR == ret_term(o.ret),
        VALUE_VAR == VALUE.lit(o.value or "none"),
        post_state(o),
        *[EMIT[s] == (s in o.emit) for s in vocab.SEGMENTS],
        *[TAG[t] == (t in o.tags) for t in TAGS],
    )


# ---------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------

@dataclass
class Encoding:
    """``formula`` is T(pre, post, inp, par, out) for one trigger (or, from
    :func:`transition_relation`, for all of them, with ``trigger`` free).
    ``domain`` constrains the configurations to well-formed ones."""
    profile: str
    trigger: str | None
    formula: z3.BoolRef
    outcomes: tuple[str, ...]
    domain: z3.BoolRef = DOMAIN
    pre: dict = field(default_factory=lambda: PRE)
    post: dict = field(default_factory=lambda: POST)
    inp: dict = field(default_factory=lambda: INP)
    par: dict = field(default_factory=lambda: PAR)
    ret: z3.ExprRef = RET_VAR
    emit: dict = field(default_factory=lambda: EMIT)
    tags: dict = field(default_factory=lambda: TAG)
    outcome: z3.ArithRef = OUTCOME
    trigger_var: z3.ExprRef | None = None
    _solver: z3.Solver | None = field(default=None, repr=False)

    def solver(self) -> z3.Solver:
        """A solver holding ``domain`` and ``formula``, made once; callers
        push/pop around their own constraints."""
        if self._solver is None:
            self._solver = z3.Solver()
            self._solver.add(self.domain, self.formula)
        return self._solver


def cases_for(trigger: str, profile: str, cases: Sequence[Case]) -> list[Case]:
    """The cases of a trigger under a profile, in table order (semantics.cases_for)."""
    return [c for c in rules.of_profile(profile, cases) if c.trigger == trigger]


def trigger_formula(trigger: str, profile: str, cases: Sequence[Case] = rules.CASES,
                    names: Sequence[str] | None = None) -> z3.BoolRef:
    """T for one trigger: some outcome of the deciding case is taken.
    ``out.outcome == i`` means ``names[i]`` (default: the outcomes of
    ``cases`` in table order)."""
    index = {name: i for i, name in enumerate(names if names is not None else outcome_names(cases))}
    cs = cases_for(trigger, profile, cases)
    fires = first_match([guard(c.when) for c in cs])
    return z3.Or([z3.And(fire, outcome_formula(o, index[o.name]))
                  for c, fire in zip(cs, fires) for o in c.outcomes_for(profile)])


_CACHE: dict[tuple[str | None, str], Encoding] = {}


def encode(trigger: str, profile: str, cases: Sequence[Case] = rules.CASES,
           names: Sequence[str] | None = None) -> Encoding:
    """The encoding of one trigger under one profile.  Built from ``cases``
    (the real table by default, cached; tests pass mutated copies, with
    ``names`` the real table's outcome numbering so that two encodings
    compare outcome by outcome)."""
    default = cases is rules.CASES and names is None
    if default and (trigger, profile) in _CACHE:
        return _CACHE[trigger, profile]
    names = tuple(names) if names is not None else outcome_names(cases)
    enc = Encoding(profile, trigger, trigger_formula(trigger, profile, cases, names), names)
    if default:
        _CACHE[trigger, profile] = enc
    return enc


def transition_relation(profile: str, cases: Sequence[Case] = rules.CASES) -> Encoding:
    """The whole one-endpoint transition relation under a profile: the
    ``trigger`` variable picks which trigger's formula applies."""
    default = cases is rules.CASES
    if default and (None, profile) in _CACHE:
        return _CACHE[None, profile]
    formula = z3.Or([z3.And(TRIGGER_VAR == TRIGGER.lit(t), trigger_formula(t, profile, cases))
                     for t in _dedup(c.trigger for c in cases)])
    enc = Encoding(profile, None, formula, outcome_names(cases), trigger_var=TRIGGER_VAR)
    if default:
        _CACHE[None, profile] = enc
    return enc


# ---------------------------------------------------------------------------
# Enumerating successors
# ---------------------------------------------------------------------------

Successor = tuple  # (outcome name, ret, post Endpoint, frozenset(emit), frozenset(tags), value)


def normalize(ep: Endpoint, r: Result) -> Successor:
    """A result of semantics.step in the shape :func:`successors` returns."""
    return (r.outcome, r.ret, apply(ep, r), frozenset(r.emit), frozenset(r.tags), r.value or "none")


def fix(ep: Endpoint, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> list[z3.BoolRef]:
    """Equalities pinning the pre-state, the inputs and the parameters.
    Inputs and finite parameters not given stay free.  ``n`` must be given;
    ``segn`` absent counts 0 (as semantics.rcvq_after reads it)."""
    if params.get("n") is None:
        raise ValueError("successors needs the byte count n")
    eqs = [PRE[f] == FIELD_DOMAINS[f].lit(getattr(ep, f)) for f in FIELD_DOMAINS]
    eqs.append(PRE["rcvq"] == ep.rcvq)
    eqs += [INP[k] == INPUT_DOMAINS[k].lit(v) for k, v in inputs.items() if k in INPUT_DOMAINS]
    eqs += [PAR[k] == PARAM_DOMAINS[k].lit(v) for k, v in params.items()
            if k in PARAM_DOMAINS and v is not None]
    length = params.get("len")
    eqs.append(PAR["has_len"] == (length is not None))
    eqs.append(PAR["len"] == (length or 0))
    eqs.append(PAR["n"] == params["n"])
    eqs.append(PAR["segn"] == (params.get("segn") or 0))
    return eqs


def _outputs(enc: Encoding) -> list[z3.ExprRef]:
    return [enc.outcome, enc.ret, *enc.post.values(), *enc.emit.values(), *enc.tags.values(), VALUE_VAR]


def _decode(enc: Encoding, m: z3.ModelRef) -> Successor:
    val = lambda x: m.eval(x, model_completion=True)  # noqa: E731
    post = Endpoint(**{f: FIELD_DOMAINS[f].decode(val(POST[f])) for f in FIELD_DOMAINS},
                    **{f: val(POST[f]).as_long() for f in vocab.INT_FIELDS})
    return (enc.outcomes[val(enc.outcome).as_long()], RET.decode(val(enc.ret)), post,
            frozenset(s for s, b in enc.emit.items() if z3.is_true(val(b))),
            frozenset(t for t, b in enc.tags.items() if z3.is_true(val(b))),
            VALUE.decode(val(VALUE_VAR)))


def successors(ep: Endpoint, trigger: str, profile: str, inputs: Mapping[str, Any] | None = None,
               params: Mapping[str, Any] | None = None, *,
               encoding: Encoding | None = None) -> set[Successor]:
    """Every model of the encoding with ``ep``, ``inputs`` and ``params``
    fixed, one per distinct output (blocking each found on the outputs and
    the post-state).  ``encoding`` defaults to :func:`encode` of the real
    table; a :func:`transition_relation` gets ``trigger`` fixed."""
    enc = encoding if encoding is not None else encode(trigger, profile)
    if enc.profile != profile:
        raise ValueError(f"encoding is for profile {enc.profile!r}, not {profile!r}")
    if enc.trigger is not None and enc.trigger != trigger:
        raise ValueError(f"encoding is for trigger {enc.trigger!r}, not {trigger!r}")
    s = enc.solver()
    s.push()
    try:
        s.add(fix(ep, inputs or {}, params or {}))
        if enc.trigger_var is not None:
            s.add(enc.trigger_var == TRIGGER.lit(trigger))
        found: set[Successor] = set()
        outs = _outputs(enc)
        while (res := s.check()) == z3.sat:
            m = s.model()
            found.add(_decode(enc, m))
            s.add(z3.Or([x != m.eval(x, model_completion=True) for x in outs]))
        if res != z3.unsat:
            raise RuntimeError(f"z3 answered {res} ({s.reason_unknown()})")
        return found
    finally:
        s.pop()
