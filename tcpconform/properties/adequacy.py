"""How well the evidence pins the rule table: every single-point mutant of
:data:`tcpconform.model.rules.CASES`, and what kills it.

A *mutant* is a modified copy of the table (the real one is never touched)
with one mistake, of one of these kinds:

* ``errno``: an outcome's errno replaced by another errno that some outcome
  of the same call returns (the call's own errnos: the mistakes a reader of
  that call's code can make);
* ``state``: the TCP state an outcome sets (``set st=``) replaced by each
  other state;
* ``swap``: two adjacent cases of one trigger exchanged (the first match
  decides, so order is meaning);
* ``guard``: one key of a case's guard dropped, or of an outcome's own guard;
* ``emit``: one segment an outcome sends dropped;
* ``delete``: a case removed.

Only what executes is mutated: cases and outcomes of the ``linux`` and
``posix`` profiles (an ``rfc``-only case is drawn, never run).  A mutant is
judged under the profiles it changes (:attr:`Mutant.profiles`); under any
other the table reads the same.

Evidence, tried in this order:

* a recorded trace (``evidence/traces/<kernel>/``: the scenarios', and in
  ``random/`` the random sequences mined for this, :mod:`.mining`) that the real
  model accepts and the mutant rejects, read under each profile the mutant
  changes (a Linux recording read as the ``posix`` profile is evidence for
  ``posix`` when the real ``posix`` model accepts it);
* a must-reject trace (``evidence/must-reject/``): a hand-written trace that
  Linux cannot produce, its reason in the header's ``meta.reason``, that the
  real model rejects and the mutant accepts;
* a z3 proof that the mutant's steps are the real ones, in every endpoint
  or in every endpoint the real table reaches
  (:mod:`tcpconform.properties.equivalence`): then nothing can kill it.

A mutant with none is a *survivor*: a rule no evidence pins.

A trace is checked against a mutant with the checker itself
(:func:`tcpconform.check.search.check_trace` with ``cases=``), whose caches
are kept per table.  A checker that fails under a mutant (a search limit,
an error) rejects the trace: that kills it too.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tcpconform.check import memo, search, trace
from tcpconform.check.trace import TraceError
from tcpconform.model import rules, semantics, system, vocab
from tcpconform.model.table import Case, Outcome
from tcpconform.properties import equivalence

EXECUTED = ("linux", "posix")
KINDS = ("errno", "state", "swap", "guard", "emit", "delete")
EVIDENCE = ("scenario", "must-reject", "equivalent")
ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "evidence" / "traces"
MUST_REJECT = ROOT / "evidence" / "must-reject"
NON_ERRNO = (vocab.OK, vocab.WAIT, vocab.RET_ERR)


@dataclass(frozen=True)
class Mutant:
    """One single-point mistake: its stable ``id``, ``kind``, the rule it
    changes, the trigger whose steps it changes, the profiles under which it
    changes them, the mistake in words, and the mutated table."""
    id: str
    kind: str
    rule: str
    trigger: str
    profiles: tuple[str, ...]
    words: str
    cases: tuple = field(repr=False, compare=False)


# ---------------------------------------------------------------------------
# Generating
def _executed(profiles) -> tuple[str, ...]:
    return tuple(p for p in EXECUTED if p in profiles)


def _outcome_profiles(c: Case, o: Outcome) -> tuple[str, ...]:
    return tuple(p for p in _executed(c.profiles) if p in o.profiles)


def _with_case(cases: tuple, i: int, new: Case) -> tuple:
    return cases[:i] + (new,) + cases[i + 1:]


def _with_outcome(cases: tuple, i: int, j: int, new: Outcome) -> tuple:
    c = cases[i]
    return _with_case(cases, i, replace(c, outcomes=c.outcomes[:j] + (new,) + c.outcomes[j + 1:]))


def call_errnos(cases: Sequence[Case]) -> dict[str, tuple[str, ...]]:
    """Per trigger, the errnos its executed outcomes return, in table order."""
    found: dict[str, dict] = {}
    for c in cases:
        for o in c.outcomes:
            if _outcome_profiles(c, o) and o.ret not in NON_ERRNO:
                found.setdefault(c.trigger, {})[o.ret] = None
    return {t: tuple(v) for t, v in found.items()}


def generate(cases: Sequence[Case] = rules.CASES) -> list[Mutant]:
    """Every single-point mutant of ``cases`` of every kind (see the module
    docstring), in table order; generic over the table."""
    cases = tuple(cases)
    errnos = call_errnos(cases)
    found: list[Mutant] = []

    def add(kind, rule, trigger, profiles, words, table, tail):
        if profiles:
            found.append(Mutant(f"{kind}:{rule}:{tail}", kind, rule, trigger, tuple(profiles), words, table))

    for i, c in enumerate(cases):
        cp = _executed(c.profiles)
        if not cp:
            continue
        for j, o in enumerate(c.outcomes):
            op = _outcome_profiles(c, o)
            if not op:
                continue
            label = o.name.rsplit("/", 1)[-1]
            if o.ret not in NON_ERRNO:
                for e in errnos.get(c.trigger, ()):
                    if e != o.ret:
                        add("errno", c.id, c.trigger, op, f"outcome {o.name} returns {e} instead of {o.ret}",
                            _with_outcome(cases, i, j, replace(o, ret=e)), f"{label}:{o.ret}->{e}")
            if "st" in o.set:
                for st in vocab.STATES:
                    if st != o.set["st"]:
                        add("state", c.id, c.trigger, op,
                            f"outcome {o.name} moves to {st} instead of {o.set['st']}",
                            _with_outcome(cases, i, j, replace(o, set={**o.set, "st": st})),
                            f"{label}:{o.set['st']}->{st}")
            for k in range(len(o.emit)):
                seg = o.emit[k]
                add("emit", c.id, c.trigger, op, f"outcome {o.name} does not send its {seg}",
                    _with_outcome(cases, i, j, replace(o, emit=o.emit[:k] + o.emit[k + 1:])), f"{label}:-{seg}")
            for key in o.when:
                add("guard", c.id, c.trigger, op,
                    f"outcome {o.name} is allowed whatever {key} is (its guard {key} in "
                    f"{_show(o.when[key])} dropped)",
                    _with_outcome(cases, i, j, replace(o, when={k: v for k, v in o.when.items() if k != key})),
                    f"{label}:-{key}")
        for key in c.when:
            add("guard", c.id, c.trigger, cp,
                f"case {c.id} decides whatever {key} is (its guard {key} in {_show(c.when[key])} dropped)",
                _with_case(cases, i, replace(c, when={k: v for k, v in c.when.items() if k != key})), f"-{key}")
        add("delete", c.id, c.trigger, cp, f"case {c.id} removed", cases[:i] + cases[i + 1:], "")
        nxt = next((k for k in range(i + 1, len(cases))
                    if cases[k].trigger == c.trigger and _executed(cases[k].profiles)), None)
        if nxt is not None:
            d = cases[nxt]
            both = tuple(p for p in cp if p in d.profiles)
            table = list(cases)
            table[i], table[nxt] = d, c
            add("swap", c.id, c.trigger, both, f"case {d.id} tried before {c.id}", tuple(table), d.id)
    return found


def _show(values: frozenset) -> str:
    return "{" + ", ".join(sorted(map(str, values))) + "}"


# ---------------------------------------------------------------------------
# Evidence
@dataclass
class Evidence:
    """A trace as evidence: its name, header and events (read once)."""
    name: str
    header: object
    events: list
    reason: str = ""


class UnreadableEvidence(Exception):
    """A trace of the evidence cannot be read: where, and what is wrong."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


def read(path: Path, name: str | None = None) -> Evidence:
    """A trace file as evidence (:class:`UnreadableEvidence` on a bad file)."""
    try:
        with open(path, "rb") as f:
            header, events = trace.read_trace(f)
            events = list(events)
    except TraceError as e:
        raise UnreadableEvidence(path, e.line, e.message) from None
    except OSError as e:
        raise UnreadableEvidence(path, 0, e.strerror or str(e)) from None
    return Evidence(name or path.stem, header, events, str(header.meta.get("reason", "")))


def read_dir(folder: Path, prefix: str = "") -> list[Evidence]:
    """Every ``*.jsonl`` of a folder (sorted by name), read as evidence, each
    named ``prefix`` + its stem."""
    return [read(p, prefix + p.stem) for p in sorted(Path(folder).glob("*.jsonl"))]


def read_must_reject(folder: Path) -> list[Evidence]:
    """The must-reject traces of a folder; each must say why Linux cannot
    produce it (``meta.reason``) and which mutants it is for (``meta.kills``):
    :class:`UnreadableEvidence` (at its header) otherwise."""
    found = read_dir(folder)
    for ev, path in zip(found, sorted(Path(folder).glob("*.jsonl"))):
        if not ev.reason.strip():
            raise UnreadableEvidence(path, 1, "a must-reject trace needs meta.reason: why Linux cannot produce it")
        kills = ev.header.meta.get("kills")
        if not isinstance(kills, list) or not kills or not all(isinstance(k, str) for k in kills):
            raise UnreadableEvidence(path, 1, "a must-reject trace needs meta.kills: the ids of the mutants it is for")
    return found


MINED = "random"
"""The sub-folder of a kernel's recorded traces holding the random sequences
kept because they kill mutants (:mod:`tcpconform.properties.mining`)."""


def read_corpus(folder: Path) -> list[Evidence]:
    """A kernel's recorded traces: the scenarios', then the mined random ones
    (named ``random/<stem>``)."""
    folder = Path(folder)
    mined = folder / MINED
    return read_dir(folder) + (read_dir(mined, MINED + "/") if mined.is_dir() else [])


def corpus_dir(kernel: str | None = None) -> Path:
    """The folder of recorded scenario traces: the kernel's own if given,
    else the newest kernel's of :data:`TRACES`."""
    if kernel:
        return TRACES / f"linux-{kernel.removeprefix('linux-')}"
    dirs = sorted((p for p in TRACES.glob("linux-*") if p.is_dir()),
                  key=lambda p: [int(x) if x.isdigit() else x for x in p.name[6:].split(".")])
    if not dirs:
        raise FileNotFoundError(f"no recorded traces in {TRACES}")
    return dirs[-1]


def _as(ev: Evidence, profile: str):
    return ev.header if ev.header.profile == profile else dataclasses.replace(ev.header, profile=profile)


BUDGET = 5.0
"""Seconds one check of one trace against a mutant may take (the real model's
take milliseconds): a mutant whose search runs longer fails the check, as a
search limit does (a test suite under that mutant would not finish)."""


class _OverBudget(BaseException):
    """Not an Exception: no handler of the search may take it for its own."""


def _alarm(_signum, _frame):
    raise _OverBudget()


def verdict_of(ev: Evidence, profile: str, cases: Sequence[Case] | None = None) -> str:
    """What the model (``cases``: the real table unless given) says of the
    trace read under ``profile``: ``conforms``, ``diverges``, ``invalid``,
    ``undecided`` (the search met one of its bounds), ``error`` (the checker
    failed: a mutant may break the search) or, for another table, ``over
    budget`` (the check took more than :data:`BUDGET`)."""
    timed = cases is not None and threading.current_thread() is threading.main_thread()
    if timed:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, BUDGET)
    try:
        return search.check_trace(_as(ev, profile), iter(ev.events), cases=cases).verdict
    except _OverBudget:
        return "over budget"
    except Exception:  # a mutant may break the search
        return "error"
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def accepts(ev: Evidence, profile: str, cases: Sequence[Case] | None = None) -> bool:
    """Whether the model explains the trace (:func:`verdict_of` is ``conforms``)."""
    return verdict_of(ev, profile, cases) == "conforms"


NOTES = {"undecided": " (search undecided)", "over budget": f" (search over {BUDGET:g} s)", "error": " (checker error)"}
"""How a kill says that the mutant's check did not end in a divergence: a
mutant that makes the search stop at a bound, run over budget or fail is
caught all the same (a test suite under it would not pass), and said so."""


def probes(ev: Evidence, profile: str) -> tuple[bool, frozenset]:
    """Check the trace under ``profile`` with the real table from empty caches,
    and say whether it is accepted and every question the check asked of the
    table (:func:`tcpconform.model.semantics.probing`)."""
    system.clear_caches()
    semantics.clear_cache()
    memo.clear_tables()
    with semantics.probing() as seen:
        ok = accepts(ev, profile)
    return ok, frozenset(seen)


@dataclass
class Baseline:
    """What the real model says of the evidence: per profile, the recorded
    traces it accepts; the must-reject traces (each rejected under its own
    profile), and those it wrongly accepts (unusable as evidence).

    ``reach``: per profile, per trigger, each question the real model's
    checks of the accepted traces asked of the table, with the traces (their
    positions in ``scenarios[profile]``) that asked it.  A mutant that
    answers all of a trace's questions as the real table does checks it step
    for step as the real model does, so accepts it too: only the traces
    asking a question it answers differently need checking (:func:`judge`)."""
    scenarios: dict[str, list[Evidence]]
    must_reject: list[Evidence]
    bad_must_reject: list[str]
    rejected: dict[str, list[str]]  # profile -> recorded traces the real model rejects
    reach: dict[str, dict[str, dict[tuple, list[int]]]] = field(default_factory=dict)


def baseline(recorded: list[Evidence], must_reject: list[Evidence]) -> Baseline:
    scen = {p: [] for p in EXECUTED}
    rejected = {p: [] for p in EXECUTED}
    reach: dict[str, dict[str, dict[tuple, list[int]]]] = {p: {} for p in EXECUTED}
    for ev in recorded:
        for p in EXECUTED:
            ok, asked = probes(ev, p)
            if ok:
                for q in asked:
                    reach[p].setdefault(semantics.probe_trigger(q), {}).setdefault(q, []).append(len(scen[p]))
                scen[p].append(ev)
            else:
                rejected[p].append(ev.name)
    good, bad = [], []
    for ev in must_reject:
        if verdict_of(ev, ev.header.profile) == "diverges":
            good.append(ev)
        else:  # accepted, or not decided: no evidence that the real model rejects it
            bad.append(ev.name)
    return Baseline(scen, good, bad, rejected, reach)


def reaching(m: Mutant, base: Baseline, profile: str) -> list[int]:
    """The accepted traces (positions in ``base.scenarios[profile]``, in
    order) whose check asked the table a question that ``m`` answers
    differently: the only ones ``m`` can reject."""
    found: set[int] = set()
    for q, where in base.reach.get(profile, {}).get(m.trigger, {}).items():
        if not found.issuperset(where) and semantics.answer(q, m.cases) != semantics.answer(q):
            found.update(where)
    return sorted(found)


# ---------------------------------------------------------------------------
# Judging
@dataclass(frozen=True)
class Judgement:
    """What became of a mutant: ``evidence`` is one of :data:`EVIDENCE` or
    ``survivor``; ``by`` names the trace (and profile) or the proof's scope;
    ``reached``: for a survivor, how many recorded traces reach a question
    it answers differently (0: none drives the model where it differs)."""
    mutant: Mutant
    evidence: str
    by: str = ""
    reached: int = 0


def judge(m: Mutant, base: Baseline) -> Judgement:
    """The first evidence that kills ``m`` (see the module docstring)."""
    reached = 0
    for p in m.profiles:
        where = reaching(m, base, p)
        reached += len(where)
        for i in where:
            ev = base.scenarios[p][i]
            v = verdict_of(ev, p, m.cases)
            if v != "conforms":
                return Judgement(m, "scenario", ev.name + ("" if p == ev.header.profile else f" (as {p})")
                                 + NOTES.get(v, ""))
    for ev in base.must_reject:
        if ev.header.profile in m.profiles and accepts(ev, ev.header.profile, m.cases):
            return Judgement(m, "must-reject", ev.name)
    if equivalence.equivalent(m.trigger, m.profiles, rules.CASES, m.cases):
        return Judgement(m, "equivalent", "z3: the same steps in every state")
    if equivalence.equivalent_where_reachable(m.trigger, m.profiles, rules.CASES, m.cases):
        return Judgement(m, "equivalent", "z3: the same steps in every endpoint the table reaches")
    return Judgement(m, "survivor", reached=reached)


_WORK: dict = {}


def _judge_index(i: int) -> tuple[int, str, str, int]:
    j = judge(_WORK["mutants"][i], _WORK["base"])
    return i, j.evidence, j.by, j.reached


def judge_all(mutants: list[Mutant], base: Baseline, jobs: int = 1,
              progress: Callable[[int, int], None] | None = None) -> list[Judgement]:
    """Judge every mutant, with ``jobs`` worker processes (forked: they share
    the mutants and the evidence); ``progress(done, total)`` now and then."""
    _WORK.update(mutants=mutants, base=base)
    out: list[Judgement | None] = [None] * len(mutants)
    total = len(mutants)

    def take(results: Iterable[tuple[int, str, str, int]]):
        for done, (i, evidence, by, reached) in enumerate(results, 1):
            out[i] = Judgement(mutants[i], evidence, by, reached)
            if progress and (done % 50 == 0 or done == total):
                progress(done, total)

    if jobs > 1 and total > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            take(pool.imap_unordered(_judge_index, range(total), chunksize=8))
    else:
        take(map(_judge_index, range(total)))
    _WORK.clear()
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# The report
@dataclass
class Report:
    judgements: list[Judgement]
    base: Baseline
    seconds: float = 0.0

    @property
    def survivors(self) -> list[Judgement]:
        return [j for j in self.judgements if j.evidence == "survivor"]

    def tally(self, by: Callable[[Mutant], str]) -> dict[str, dict[str, int]]:
        """Per group (kind or rule): mutants, each evidence's kills, survivors."""
        t: dict[str, dict[str, int]] = {}
        for j in self.judgements:
            row = t.setdefault(by(j.mutant), {"mutants": 0, **{e: 0 for e in EVIDENCE}, "survivor": 0})
            row["mutants"] += 1
            row[j.evidence] += 1
        return t

    def as_json(self) -> dict:
        return {
            "mutants": len(self.judgements),
            "by_kind": self.tally(lambda m: m.kind),
            "by_rule": self.tally(lambda m: m.rule),
            "evidence": {"scenario_traces": {p: len(v) for p, v in self.base.scenarios.items()},
                         "must_reject": [e.name for e in self.base.must_reject],
                         "must_reject_accepted_by_the_model": self.base.bad_must_reject},
            # one entry per mutant; ``by``: the trace that killed it, or the proof of its
            # equivalence (null for a survivor); ``reached_by_traces``: see Judgement
            "results": [{"id": j.mutant.id, "rule": j.mutant.rule, "kind": j.mutant.kind,
                         "profiles": list(j.mutant.profiles), "mutation": j.mutant.words,
                         "evidence": j.evidence, "by": j.by or None, "reached_by_traces": j.reached}
                        for j in self.judgements],
            "seconds": round(self.seconds, 1),
        }

    def text(self) -> str:
        lines = []
        kinds = self.tally(lambda m: m.kind)
        head = f"{'kind':<8} {'mutants':>7} {'scenario':>8} {'must-rej':>8} {'equiv':>6} {'survive':>7} {'score':>6}"
        lines.append(head)
        total = {"mutants": 0, **{e: 0 for e in EVIDENCE}, "survivor": 0}
        for k in KINDS:
            row = kinds.get(k)
            if row is None:
                continue
            for key in total:
                total[key] += row[key]
            lines.append(_row(k, row))
        lines.append(_row("all", total))
        rules_ = self.tally(lambda m: m.rule)
        weak = [(r, row) for r, row in rules_.items() if row["survivor"]]
        if weak:
            lines.append("")
            lines.append("rules with survivors (score = killed or equivalent / mutants):")
            for r, row in sorted(weak, key=lambda x: -x[1]["survivor"]):
                lines.append(f"  {r:<28} {_score(row):>5}  {row['survivor']} of {row['mutants']} survive")
        if self.survivors:
            lines.append("")
            lines.append(f"survivors ({len(self.survivors)}): untested rules")
            for j in self.survivors:
                m = j.mutant
                lines.append(f"  {m.rule:<28} {m.kind:<7} {m.words}"
                             + ("" if m.profiles == EXECUTED else f" [{', '.join(m.profiles)}]")
                             + (f" (differs in {j.reached} trace(s), unseen)" if j.reached
                                else " (no trace reaches where it differs)"))
        if self.base.bad_must_reject:
            lines.append("")
            lines.append("must-reject traces the real model accepts (not evidence): "
                         + ", ".join(self.base.bad_must_reject))
        lines.append("")
        lines.append(f"{len(self.judgements)} mutants, {len(self.survivors)} survive; "
                     f"{self.seconds:.1f} s ({1000 * self.seconds / max(1, len(self.judgements)):.0f} ms a mutant)")
        return "\n".join(lines)


def _score(row: dict) -> str:
    return f"{100 * (row['mutants'] - row['survivor']) / max(1, row['mutants']):.0f}%"


def _row(name: str, row: dict) -> str:
    return (f"{name:<8} {row['mutants']:>7} {row['scenario']:>8} {row['must-reject']:>8} "
            f"{row['equivalent']:>6} {row['survivor']:>7} {_score(row):>6}")


def run(corpus: Path, must_reject: Path = MUST_REJECT, kinds: Sequence[str] = KINDS,
        rules_: Sequence[str] | None = None, jobs: int = 1, progress: bool = True,
        mutants: list[Mutant] | None = None) -> Report:
    """Generate (or take) the mutants, read the evidence, judge every mutant."""
    start = time.perf_counter()
    ms = mutants if mutants is not None else [
        m for m in generate() if m.kind in kinds and (not rules_ or m.rule in rules_)]
    recorded = read_corpus(corpus)
    rejects = read_must_reject(Path(must_reject)) if Path(must_reject).is_dir() else []
    base = baseline(recorded, rejects)

    def tell(done, total):
        if progress:
            print(f"  {done}/{total} mutants judged ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    judged = judge_all(ms, base, jobs=jobs, progress=tell)
    return Report(judged, base, time.perf_counter() - start)


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


__all__ = ["Mutant", "generate", "judge", "judge_all", "run", "Report", "Evidence", "read", "read_dir", "read_corpus",
           "probes", "reaching", "MINED", "verdict_of", "accepts", "NOTES", "read_must_reject",
           "baseline", "Baseline", "corpus_dir", "UnreadableEvidence", "KINDS", "EVIDENCE"]
