"""Concrete runs of the composed system: found by bounded model checking,
stored, re-checked, and shown as netstat step tables and as trace files.

A :class:`Run` is the initial state and, per step, the value of every step
variable and the state after it — every variable of
:mod:`tcpconform.properties.compose` fixed.  It is found by :func:`bmc` (the shortest
run, up to a depth, whose steps satisfy a target) and then:

* **stored** as ``tcpconform/properties/runs/<name>.json`` (:func:`find`).  On a later
  run the stored run is **re-checked** against the current transition
  relation, step by step: ``init(s_0)`` and ``T(s_i, x_i, s_{i+1})`` with
  every value fixed, then the target on the whole run — ground formulas that
  z3 simplifies to true or false in milliseconds.  A run that fails (the
  rules changed under it, the composed system gained or lost a variable, or
  the target changed) is not trusted: BMC runs again and the file is
  rewritten.  A stored run only ever stands for itself: it proves
  reachability (a witness), never a property.
* **shown** (:func:`steps`, :func:`netstat_table`): who acted, the trigger,
  the result, the segments sent, and the seed's netstat columns (Proto,
  Recv-Q, Send-Q, Local Address, Foreign Address, State) of every socket
  after every step.
* **written as a trace** (:func:`to_trace`) in ../shared/trace-format.md,
  closed world, with loopback addresses: the listener ``L`` at
  127.0.0.1:5000, client ``Ci`` at 127.0.0.1:4000i (a later connection of
  the same client from an autobound port: 4001i, 4002i, ...), the accepted
  sockets named after their slot (``A1``; a later connection in that slot
  ``A1.2``).  Calls become ``call`` events, every change of a named socket's
  observable state becomes a ``state`` event, network steps are otherwise
  unobserved.  ``conform check`` decides such a trace with the executable
  model, independently of z3.

Runs meant to become traces are searched under :class:`Realism`: what a
recorded loopback run can show (no segment lost, no call left blocking, no
spurious address conflict, byte counts that add up); the constraints are
listed there.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Callable

import z3

from tcpconform.check.explain import netstat_addr, netstat_event, netstat_table as table_lines
from tcpconform.check.trace import call_event, format_addr, state_event, trace_header, trace_text
from tcpconform.model import composition
from tcpconform.model import z3enc as E

from tcpconform.properties import bounds as B
from tcpconform.properties import store
from tcpconform.properties.compose import CHANNELS, CLIENTS, NAMES, SERVERS, SLOT, SLOTS, Composed

DIR = FsPath(__file__).resolve().parent / "runs"
FORMAT = 1
DATA_BYTES = 5        # every send in a realistic run offers (and takes) this many bytes
RECV_MAX = 8          # and every recv asks for 1..RECV_MAX

LISTEN_PORT = 5000
OTHER_PORT = 5999
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------
# Paths: the variables (or values) of a run, step by step
# ---------------------------------------------------------------------------

class Path:
    """``frames[k]``: the state before step ``k`` (``frames[n]``: after the
    last), ``steps[k]``: the step variables of step ``k``; each a list in
    the order of ``NAMES`` / ``c.step_vars()``.  The entries are z3
    constants of a BMC unrolling, or values (a stored run)."""

    def __init__(self, c: Composed, frames: list, steps: list):
        self.c, self.frames, self.steps = c, frames, steps
        self._cur = [c.cur[k] for k in names_of(c)]
        self._nxt = [c.nxt[k] for k in names_of(c)]
        self._step = c.step_vars()
        self._memo: dict = {}   # (k, id of f) -> f read at step k (z3 shares equal terms: equal ids)

    def __len__(self) -> int:
        return len(self.steps)

    def at(self, k: int, f: z3.ExprRef) -> z3.ExprRef:
        """A formula over one step (``c.cur``, ``c.nxt``, step variables), read at step ``k``."""
        return self._subst(("at", k), f, lambda: (self._cur + self._nxt + self._step,
                                                  self.frames[k] + self.frames[k + 1] + self.steps[k]))

    def state(self, k: int, f: z3.ExprRef) -> z3.ExprRef:
        """A formula over the current state, read in frame ``k`` (0..len)."""
        return self._subst(("state", k), f, lambda: (self._cur, self.frames[k]))

    def _subst(self, where: tuple, f: z3.ExprRef, pairs) -> z3.ExprRef:
        """``z3.substitute`` through the C API with the pair arrays built once
        per step (the Python wrapper re-checks every pair's sorts on every call)."""
        key = (*where, f.get_id())
        if key not in self._memo:
            if where not in self._memo:
                frm, to = pairs()
                a, b = (z3.Ast * len(frm))(), (z3.Ast * len(frm))()
                for i, (x, y) in enumerate(zip(frm, to)):
                    a[i], b[i] = x.as_ast(), y.as_ast()
                self._memo[where] = (len(frm), a, b, frm, to)  # the expressions keep the arrays' terms alive
            n, a, b, _, _ = self._memo[where]
            g = z3.z3._to_expr_ref(z3.Z3_substitute(f.ctx_ref(), f.as_ast(), n, a, b), f.ctx)
            self._memo[key] = (f, g)
        return self._memo[key][1]


PathTarget = Callable[[Composed, Path], z3.BoolRef]


def names_of(c) -> tuple[str, ...]:
    """The state variables of a system: compose's, or those it declares
    (another composition, e.g. :mod:`tcpconform.properties.pair`)."""
    return getattr(c, "names", NAMES)


# ---------------------------------------------------------------------------
# What a recorded loopback run can show
# ---------------------------------------------------------------------------

def writers(ch: str) -> tuple[str, ...]:
    """The slots whose steps push onto channel ``ch`` (compose: a client
    writes ``up``, its server-side slot and the listener write ``dn``)."""
    i = ch[2:]
    return (f"C{i}",) if ch.startswith("up") else (f"A{i}", "L")


def reader(ch: str, state: dict) -> str:
    """The slot a segment at the head of channel ``ch`` goes to in ``state``:
    a client's ``dn`` channel to the client; its ``up`` channel to its
    server-side slot while that lives, else to the listener."""
    i = ch[2:]
    if ch.startswith("dn"):
        return f"C{i}"
    return f"A{i}" if state.get(f"A{i}.live") else "L"


class Realism:
    """Per-step constraints for runs that become trace files:

    * no network step (a segment lost, or answered by no socket: the first
      is no loopback behaviour, the second never needed by the runs here),
      and no segment pushed onto a full channel (which loses it);
    * no call returns ``WAIT`` (a single-threaded recorder records a call
      when it returns; a call that sleeps for ever is not in a trace), no
      ``socket()`` on a slot (the trace introduces each name once), no
      ``connect()`` by the listener (its segments reach no modelled peer);
    * ``bind()`` meets no conflict (the slots' addresses are distinct);
    * byte counts add up: every send offers and takes ``DATA_BYTES``, every
      DATA segment carries ``DATA_BYTES``, every recv asks for
      1..``RECV_MAX``, and each slot's receive queue before a step it takes
      is what it held after its previous step (0 when empty): the composed
      system keeps only the queue's sign, this adds the count back.
    """

    def __init__(self, c: Composed):
        self.c = c
        self.rq: dict[str, z3.ArithRef] = {s: z3.IntVal(0) for s in SLOTS}

    def step(self, path: Path, k: int) -> z3.BoolRef:
        c = self.c
        at = lambda f: path.at(k, f)  # noqa: E731
        pushes = z3.Or(*c.emit.values(), c.tag["spawn_req"], c.tag["reset_queue"])
        local = [c.act != SLOT.lit("NET"), c.ret != E.RET.lit("WAIT"), z3.Not(c.is_trigger("call:socket")),
                 z3.Not(z3.And(c.act == SLOT.lit("L"), c.is_trigger("call:connect"))),
                 z3.Not(c.inp["conflict"]),
                 z3.Implies(c.is_trigger("call:send"), z3.And(c.par["has_len"], c.par["len"] == DATA_BYTES)),
                 z3.Implies(z3.And(c.is_trigger("call:send"), c.ret == E.RET.lit("ok")), c.par["n"] == DATA_BYTES),
                 z3.Implies(c.is_trigger("call:recv"),
                            z3.And(c.par["has_len"], c.par["len"] >= 1, c.par["len"] <= RECV_MAX)),
                 z3.Implies(z3.And(c.is_trigger("seg"), c.par["seg"] == E.PARAM_DOMAINS["seg"].lit("DATA")),
                            c.par["segn"] == DATA_BYTES)]
        for ch in CHANNELS:
            full = c.cur[f"{ch}.v{B.CHANNEL_CAPACITY - 1}"]
            local.append(z3.Implies(z3.And(z3.Or([c.act == SLOT.lit(w) for w in writers(ch)]), pushes), z3.Not(full)))
        out = [at(z3.And(local))]
        idx = {str(v): i for i, v in enumerate(c.step_vars())}
        act, q, q2 = (path.steps[k][idx[n]] for n in ("step.act", "step.q", "step.q2"))
        for s in SLOTS:
            mine = act == SLOT.lit(s)
            out.append(z3.Implies(mine, q == self.rq[s]))
            empty = z3.Not(path.state(k + 1, c.cur[f"{s}.pos"]))
            self.rq[s] = z3.If(mine, q2, z3.If(empty, z3.IntVal(0), self.rq[s]))
        return z3.And(out)


# ---------------------------------------------------------------------------
# Runs: values, storage
# ---------------------------------------------------------------------------

def _py(v: z3.ExprRef) -> Any:
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_int_value(v):
        return v.as_long()
    return str(v)


_ENUM_CACHE: dict = {}


def _z3(sort: z3.SortRef, x: Any) -> z3.ExprRef:
    """The z3 value of a stored Python value (KeyError/ValueError when it is
    not a value of that sort any more)."""
    if sort == z3.BoolSort():
        if not isinstance(x, bool):
            raise ValueError(x)
        return z3.BoolVal(x)
    if sort == z3.IntSort():
        if isinstance(x, bool) or not isinstance(x, int):
            raise ValueError(x)
        return z3.IntVal(x)
    key = sort.name()
    if key not in _ENUM_CACHE:
        _ENUM_CACHE[key] = {sort.constructor(i).name(): sort.constructor(i)() for i in range(sort.num_constructors())}
    return _ENUM_CACHE[key][x]


@dataclass
class Run:
    """A run: ``init`` (state variable -> value) and ``steps`` (each: the step
    variables' values, and the full state after the step)."""
    init: dict[str, Any]
    steps: list[dict] = field(default_factory=list)   # {"vars": {...}, "state": {...}}
    found_by: str = ""

    def __len__(self) -> int:
        return len(self.steps)

    def state(self, k: int) -> dict[str, Any]:
        """The state before step ``k`` (``k == len``: after the last step)."""
        return self.init if k == 0 else self.steps[k - 1]["state"]

    def to_json(self, **meta) -> dict:
        steps, prev = [], self.init
        for st in self.steps:
            steps.append({"vars": st["vars"], "changed": {k: v for k, v in st["state"].items() if prev.get(k) != v}})
            prev = st["state"]
        return {"format": FORMAT, **meta, "found_by": self.found_by, "length": len(self.steps),
                "init": self.init, "steps": steps}

    @classmethod
    def from_json(cls, d: dict) -> "Run":
        if d.get("format") != FORMAT:
            raise ValueError("unknown format")
        steps, prev = [], d["init"]
        for st in d["steps"]:
            state = {**prev, **st["changed"]}
            steps.append({"vars": st["vars"], "state": state})
            prev = state
        return cls(dict(d["init"]), steps, d.get("found_by", ""))

    def path(self, c: Composed) -> Path:
        """The run as a :class:`Path` of values over ``c`` (KeyError or
        ValueError when ``c`` has variables the run does not give, or values
        it does not know)."""
        step = [(v.decl().name(), v.sort()) for v in c.step_vars()]
        sorts = [(n, c.cur[n].sort()) for n in names_of(c)]
        frames = [[_z3(srt, self.state(k)[n]) for n, srt in sorts] for k in range(len(self) + 1)]
        steps = [[_z3(srt, st["vars"][n]) for n, srt in step] for st in self.steps]
        return Path(c, frames, steps)


def recheck(c: Composed, run: Run, target: PathTarget, realistic: bool = False) -> str | None:
    """None when ``run`` is a run of ``c`` (init, every step, and, with
    ``realistic``, :class:`Realism`) that satisfies ``target``; else why not
    (also when the run cannot even be read against ``c``: never an exception)."""
    try:
        return _recheck(c, run, target, realistic)
    except (KeyError, ValueError, TypeError, IndexError, z3.Z3Exception) as e:
        return f"the run does not fit the composed system ({type(e).__name__}: {e})"


def _recheck(c: Composed, run: Run, target: PathTarget, realistic: bool) -> str | None:
    names = set(names_of(c))
    if set(run.init) != names or any(set(st["state"]) != names for st in run.steps):
        return "the composed system's state variables changed"
    step_names = {v.decl().name() for v in c.step_vars()}
    if any(set(st["vars"]) != step_names for st in run.steps):
        return "the composed system's step variables changed"
    try:
        p = run.path(c)
    except (KeyError, ValueError, z3.Z3Exception) as e:
        return f"a stored value is no longer in its domain ({e})"
    checks = [("the initial state", p.state(0, c.init))]
    real = Realism(c) if realistic else None
    for k in range(len(p)):
        checks.append((f"step {k + 1}", p.at(k, c.trans)))
        if real is not None:
            checks.append((f"step {k + 1} (realism)", real.step(p, k)))
    checks.append(("the target", target(c, p)))
    for what, f in checks:
        if not _holds(f):
            return f"{what} fails"
    return None


def _holds(f: z3.BoolRef) -> bool:
    """A ground formula is true (z3 simplifies it; a solver decides what is left)."""
    g = z3.simplify(f)
    if z3.is_true(g) or z3.is_false(g):
        return z3.is_true(g)
    s = z3.Solver()
    s.set("timeout", 10_000)
    s.add(z3.Not(g))
    return s.check() == z3.unsat


# ---------------------------------------------------------------------------
# Bounded model checking
# ---------------------------------------------------------------------------

@dataclass
class Found:
    verdict: str           # "witnessed" / "unreached" / "unknown"
    method: str
    seconds: float
    run: Run | None = None
    detail: str = ""


def last_step(target: z3.BoolRef) -> PathTarget:
    """A target over one step (the last)."""
    return lambda c, p: p.at(len(p) - 1, target)


def bmc(c: Composed, target: PathTarget, depth: int = B.BMC_DEPTH, *, realistic: bool = False,
        timeout_ms: int = 120_000) -> Found:
    """The shortest run of at most ``depth`` steps satisfying ``target``
    (a :data:`PathTarget`), under :class:`Realism` when ``realistic``."""
    t0 = time.perf_counter()
    names = names_of(c)
    cur, step = [c.cur[k] for k in names], c.step_vars()
    s = z3.Solver()
    frames = [[z3.Const(f"{v}@0", v.sort()) for v in cur]]
    steps: list = []
    s.add(z3.substitute(c.init, *zip(cur, frames[0])))
    real = Realism(c) if realistic else None
    for k in range(depth):
        frames.append([z3.Const(f"{v}@{k + 1}", v.sort()) for v in cur])
        steps.append([z3.Const(f"{v}@{k}", v.sort()) for v in step])
        p = Path(c, frames, steps)
        s.add(p.at(k, c.trans))
        if real is not None:
            s.add(real.step(p, k))
        s.push()
        s.add(target(c, p))
        left = timeout_ms - int((time.perf_counter() - t0) * 1000)
        if left <= 0:
            return Found("unknown", f"bmc (timeout at depth {k + 1})", time.perf_counter() - t0)
        s.set("timeout", left)
        r = s.check()
        if r == z3.sat:
            m = s.model()
            ev = lambda x: _py(m.eval(x, model_completion=True))  # noqa: E731
            run = Run({n: ev(v) for n, v in zip(names, frames[0])},
                      [{"vars": {str(v): ev(x) for v, x in zip(step, steps[j])},
                        "state": {n: ev(v) for n, v in zip(names, frames[j + 1])}} for j in range(k + 1)],
                      f"bmc (depth {k + 1})")
            return Found("witnessed", run.found_by, time.perf_counter() - t0, run)
        if r == z3.unknown:
            return Found("unknown", f"bmc (depth {k + 1})", time.perf_counter() - t0, detail=s.reason_unknown())
        s.pop()
    return Found("unreached", f"bmc (depth {depth})", time.perf_counter() - t0)


def path_of(name: str) -> FsPath:
    """The stored run ``name``, where it is read from (see
    :mod:`tcpconform.properties.store`)."""
    return store.readable(DIR, f"{name}.json")


def load(name: str) -> tuple[Run | None, dict]:
    """The stored run ``name`` (None when there is none or it cannot be read)
    and the file's fields."""
    p = path_of(name)
    if not p.exists():
        return None, {}
    try:
        d = json.loads(p.read_text())
    except ValueError:
        return None, {}
    try:
        return Run.from_json(d), d
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, d if isinstance(d, dict) else {}


def save(name: str, run: Run | None, **meta) -> None:
    d = run.to_json(name=name, **meta) if run is not None else {"format": FORMAT, "name": name, **meta}
    dest = store.writable(DIR, f"{name}.json")
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(d, indent=1) + "\n")
    os.replace(tmp, dest)  # whole or not at all: another process may be reading it


def fingerprint(c: Composed, target: PathTarget, depth: int, realistic: bool) -> str:
    """Structural hashes of what a search of ``depth`` steps asks z3: the
    initial states, the transition relation, the target and the realism
    constraints (a changed rule, variable or target changes one)."""
    cur, step = [c.cur[k] for k in names_of(c)], c.step_vars()
    frames = [[z3.Const(f"{v}@{k}", v.sort()) for v in cur] for k in range(depth + 1)]
    steps = [[z3.Const(f"{v}@{k}", v.sort()) for v in step] for k in range(depth)]
    p = Path(c, frames, steps)
    real = Realism(c) if realistic else None
    extra = z3.And([real.step(p, k) for k in range(depth)]) if real else z3.BoolVal(True)
    return "-".join(f"{x.hash():08x}" for x in (c.init, c.trans, target(c, p), extra)) + f"-{depth}"


def find(c: Composed, name: str, target: PathTarget, depth: int = B.BMC_DEPTH, *, realistic: bool = False,
         store: bool = True, table: str = "rules", fallback: bool = False) -> Found:
    """A run satisfying ``target``: the stored run ``name`` when it re-checks
    against ``c`` (method ``stored run (re-checked)``), else BMC (stored when
    ``store``).  With ``fallback``, a realistic search that finds nothing is
    repeated without :class:`Realism`.  A search that found nothing is
    recorded with the :func:`fingerprint` of what it asked, and its verdict
    reused while the fingerprint is the same (method ``bmc (depth d,
    recorded search)``)."""
    t0 = time.perf_counter()
    run, meta = load(name)
    stale = None
    same = meta.get("table") == table and bool(meta.get("realistic")) == realistic
    if run is not None:
        stale = recheck(c, run, target, realistic) if same else "stored for another table or search"
        if stale is None:
            return Found("witnessed", f"stored run (re-checked, {len(run)} steps)", time.perf_counter() - t0, run)
    elif same and meta.get("unreached", {}).get("fingerprint") == fingerprint(c, target, depth, realistic):
        return Found("unreached", f"bmc (depth {depth}, recorded search)",
                     time.perf_counter() - t0)
    found = bmc(c, target, depth, realistic=realistic)
    real = realistic
    if found.verdict != "witnessed" and realistic and fallback:
        found, real = bmc(c, target, depth), False
        found.detail = "no run a loopback trace can show; " + found.detail
    if store and found.verdict == "witnessed":
        save(name, found.run, table=table, realistic=real)
    elif store and found.verdict == "unreached" and not fallback:
        save(name, None, table=table, realistic=realistic,
             unreached={"depth": depth, "fingerprint": fingerprint(c, target, depth, realistic)})
    if stale:
        found.detail = (found.detail + "; " if found.detail else "") + f"stored run not trusted: {stale}"
    found.seconds = time.perf_counter() - t0
    return found


# ---------------------------------------------------------------------------
# Reading a run: steps, netstat tables, rows for reports
# ---------------------------------------------------------------------------

def value_name(v: Any) -> Any:
    """A z3 enum value as the model spells it (``st.LISTEN`` -> ``LISTEN``)."""
    return v.split(".", 1)[1] if isinstance(v, str) and "." in v else v


@dataclass
class Step:
    number: int
    actor: str
    trigger: str
    ret: str
    seg: str                      # the segment delivered (trigger "seg")
    sent: list[str]               # segments the step sent
    params: dict
    tags: list[str]
    before: dict
    after: dict


def steps(run: Run) -> list[Step]:
    out = []
    for k, st in enumerate(run.steps):
        v = {n: value_name(x) for n, x in st["vars"].items()}
        actor = v.get("step.act") or v["pair.act"]
        net = actor == "NET"
        trig = "" if net else v["trigger"]
        out.append(Step(k + 1, actor, trig, "" if net else v["out.ret"],
                        v["par.seg"] if trig == "seg" else "",
                        [] if net else [n.split(".")[-1] for n, x in st["vars"].items()
                                        if n.startswith("out.emit.") and x is True],
                        {p: v.get(f"par.{p}") for p in ("len", "n", "how", "linger0", "port0", "has_len", "segn")}
                        | {"cap2": v.get("step.cap2"), "q": v.get("step.q"), "q2": v.get("step.q2")},
                        [] if net else [n.split(".")[-1] for n, x in st["vars"].items()
                                        if n.startswith("out.tag.") and x is True],
                        run.state(k), st["state"]))
    return out


def rows(run: Run) -> list[dict]:
    """The run as the compact rows ``conform prove`` has always printed (step,
    act, trigger, ret, seg, the states of the live slots)."""
    out = []
    for s in steps(run):
        out.append({"step": s.number, "act": s.actor, "trigger": s.trigger, "ret": s.ret, "seg": s.seg,
                    "sent": s.sent,
                    "states": {x: value_name(s.after[f"{x}.st"]) for x in _slots(s.after)
                               if s.after.get(f"{x}.live", True)}})
    return out


def _slots(state: dict) -> list[str]:
    """The sockets of a state, in the system's order (those with a ``st``)."""
    return [n[:-3] for n in state if n.endswith(".st")]


def _observed(state: dict, slot: str) -> str:
    """What a ``state`` event may say of the slot (tcpconform.model.system.observe):
    an open descriptor whose connection is in TIME_WAIT reads CLOSED; a
    server-side socket that left the model is gone (CLOSED)."""
    if slot in SERVERS and not state[f"{slot}.live"]:
        return "CLOSED"
    st, = composition.observed(value_name(state[f"{slot}.st"]), value_name(state[f"{slot}.fd"]), B.PROFILE)
    return st


def _channel(state: dict, ch: str) -> list[str]:
    return [value_name(state[f"{ch}.k{i}"]) for i in range(B.CHANNEL_CAPACITY) if state[f"{ch}.v{i}"]]


def _addr(port: int | None) -> str:
    return netstat_addr((HOST, port) if port else None)


def listener_port(state: dict) -> int:
    """The listener's port: 5000, the port the clients connect to, unless the
    composed system says it took another one (``L.port`` = ``X``: 5999)."""
    return OTHER_PORT if value_name(state.get("L.port")) == "X" else LISTEN_PORT


def spawned(st: Step, srv: str) -> bool:
    """The step put a new request sock into server-side slot ``srv``."""
    b, a = st.before, st.after
    return (st.actor == "L" and "spawn_req" in st.tags and a[f"{srv}.live"]
            and value_name(a[f"{srv}.st"]) == "SYN_RECEIVED" and value_name(a[f"{srv}.fd"]) == "none"
            and (not b[f"{srv}.live"] or value_name(b[f"{srv}.st"]) != "SYN_RECEIVED"
                 or value_name(b[f"{srv}.fd"]) != "none"))


@dataclass
class Moment:
    """One step of a run as the outside world sees it: the trace events it
    produces and every socket's netstat row after it."""
    step: Step
    events: list[dict]
    rows: list[dict]


def call_fields(op: str, ok: bool, par: dict) -> dict:
    """The trace fields of a send, recv, shutdown or close call, from its
    step's parameters (``len``, ``n``, ``how``, ``linger0``); {} for others."""
    if op in ("send", "recv"):
        return {"len": par["len"], **({"n": par["n"]} if ok else {})}
    if op == "shutdown":
        return {"how": par["how"]}
    if op == "close" and par["linger0"]:
        return {"linger0": True}
    return {}


def walk(run: Run) -> list[Moment]:
    """Read a run step by step: addresses (the listener at 127.0.0.1:5000,
    client ``Ci`` at 127.0.0.1:4000i, a later connection of it at 4001i,
    4002i, ...), trace names (``L``, ``Ci`` from their ``socket()`` call,
    made just before their first call; an accepted socket is named after its
    slot, ``A1``, then ``A1.2`` for the slot's next connection), the trace
    events of each step, and the netstat rows after it."""
    port: dict[str, int | None] = {s: None for s in SLOTS}
    conns = {s: 0 for s in CLIENTS}
    peer: dict[str, int | None] = {a: None for a in SERVERS}
    name: dict[str, str | None] = {s: None for s in SLOTS}
    accepts = {a: 0 for a in SERVERS}
    known: dict[str, str] = {}
    rq = {s: 0 for s in SLOTS}
    inflight: dict[str, list] = {ch: [] for ch in CHANNELS}
    out = []
    for st in steps(run):
        a, p, ok = st.actor, st.params, st.ret == "ok"
        ev: list[dict] = []
        # addresses
        if a == "L" and st.trigger in ("call:bind", "call:listen") and ok:
            port["L"] = listener_port(st.after)
        if a in CLIENTS and st.trigger == "call:bind" and ok:
            port[a] = 40000 + int(a[1:])
        if a in CLIENTS and st.trigger == "call:connect" and "SYN" in st.sent \
                and value_name(st.before[f"{a}.bound"]) != "explicit":
            port[a] = 40000 + int(a[1:]) + 10 * conns[a]
            conns[a] += 1
        for srv in SERVERS:
            if spawned(st, srv):
                peer[srv], port[srv] = port["C" + srv[1:]], LISTEN_PORT
                name[srv] = None  # an old connection in this slot left the model; its name keeps its last state
        # the call
        if st.trigger.startswith("call:") and st.ret != "WAIT" and st.trigger != "call:socket":
            op = st.trigger[5:]
            if name[a] is None and a not in SERVERS:
                name[a] = a
                known[a] = "CLOSED"
                ev.append(call_event(a, "socket", **({"nonblock": True} if st.before[f"{a}.nb"] else {})))
            kw: dict = {}
            if op == "bind":
                want = listener_port(st.after) if a == "L" else LISTEN_PORT if a in SERVERS else 40000 + int(a[1:])
                kw = {"addr": format_addr((HOST, 0 if p["port0"] else want)),
                      **({"local": format_addr((HOST, want))} if ok else {})}
            elif op == "listen":
                kw = {"backlog": int(bool(p["cap2"]) and ok)}
            elif op == "connect":
                kw = {"addr": format_addr((HOST, LISTEN_PORT if a in CLIENTS else port.get("C" + a[1:]) or OTHER_PORT))}
                if st.ret in ("ok", "EINPROGRESS"):
                    kw["local"] = _addr(port[a] or LISTEN_PORT)
            elif op == "accept" and ok:
                srv = next((x for x in SERVERS if value_name(st.before[f"{x}.fd"]) == "none"
                            and value_name(st.after[f"{x}.fd"]) == "open"), None)
                if srv is not None:
                    accepts[srv] += 1
                    name[srv] = srv if accepts[srv] == 1 else f"{srv}.{accepts[srv]}"
                    kw = {"new": name[srv], "local": _addr(port[srv]), "peer": _addr(peer[srv])}
            else:
                kw = call_fields(op, ok, p)
            if name[a] is not None:
                ev.append(call_event(name[a], op, st.ret, **kw))
        # what a state event may say now
        for s in SLOTS:
            n = name[s]
            if n is not None and known.get(n) != _observed(st.after, s):
                known[n] = _observed(st.after, s)
                ev.append(state_event(n, known[n]))
        # queues: bytes unread, bytes of DATA in flight
        for s in SLOTS:
            if f"{s}.rcvq" in st.after:
                rq[s] = st.after[f"{s}.rcvq"]
            elif s == a:
                rq[s] = p["q2"] if st.after[f"{s}.pos"] else 0
            elif not st.after[f"{s}.pos"]:
                rq[s] = 0
        for ch in CHANNELS:
            before, after = _channel(st.before, ch).count("DATA"), _channel(st.after, ch).count("DATA")
            pushed = int("DATA" in st.sent and a == writers(ch)[0])
            left = inflight[ch][max(0, min(1, before + pushed - after)):]
            if pushed and len(left) < after:
                left.append(p["n"])
            inflight[ch] = left
        rows = []
        for s in SLOTS:
            af = st.after
            if s in SERVERS and not af[f"{s}.live"]:
                continue
            stn = value_name(af[f"{s}.st"])
            if s == "L":
                row = {"recvq": sum(1 for x in SERVERS if af[f"{x}.queued"]),
                       "sendq": int(bool(af["L.cap2"])) if stn == "LISTEN" else 0,
                       "local": _addr(port["L"] if value_name(af["L.bound"]) != "no" else None),
                       "foreign": netstat_addr(None, listener=stn == "LISTEN")}
            elif s in CLIENTS:
                connected = value_name(af[f"{s}.ss"]) != "UNCONNECTED"
                row = {"recvq": rq[s], "sendq": sum(inflight["up" + s[1:]]),
                       "local": _addr(port[s] if value_name(af[f"{s}.bound"]) != "no" or connected else None),
                       "foreign": _addr(LISTEN_PORT if connected else None)}
            else:
                row = {"recvq": rq[s], "sendq": sum(inflight["dn" + s[1:]]), "local": _addr(port[s]),
                       "foreign": _addr(peer[s])}
            waiting = s in SERVERS and value_name(af[f"{s}.fd"]) == "none"
            rows.append({"slot": s, "sock": name[s], "state": stn, **row,
                         "note": ("in accept queue" if af[f"{s}.queued"] else "request sock") if waiting else ""})
        out.append(Moment(st, ev, rows))
    return out


def netstat_table(run: Run, title: str = "") -> str:
    """Every step of the run with the seed's netstat columns for every
    socket after it (Recv-Q: bytes unread, for a listener its accept queue's
    length; Send-Q: bytes of DATA in flight from the socket, for a listener
    its backlog)."""
    lines = [title] if title else []
    for m in walk(run):
        lines.append(f"step {m.step.number}: {describe(m.step)}")
        lines += table_lines((r["sock"] or r["slot"], r) for r in m.rows)
    return "\n".join(lines)


def describe(st: Step) -> str:
    """One line: who did what, with what result and what it sent."""
    if st.actor == "NET":
        return "network: a segment lost or answered by no socket"
    p = st.params
    if st.trigger.startswith("call:"):
        op = st.trigger[5:]
        args = {"send": f"len={p['len']}", "recv": f"len={p['len']}", "shutdown": f"how={p['how']}",
                "close": "linger0" if p["linger0"] else "", "listen": f"backlog={int(bool(p['cap2']))}",
                "bind": "port 0" if p["port0"] else ""}.get(op, "")
        res = st.ret + (f" n={p['n']}" if op in ("send", "recv") and st.ret == "ok" else "")
        what = f"{st.actor} {op}({args}) -> {res}"
    elif st.trigger == "seg":
        what = f"{st.seg}" + (f"({p['segn']} bytes)" if st.seg == "DATA" else "") + f" reaches {st.actor}"
        if "hold" in st.tags:
            what += " (held back)"
    else:
        what = f"{st.actor} {st.trigger}"
    return what + (f"; sends {'+'.join(st.sent)}" if st.sent else "")


# ---------------------------------------------------------------------------
# A run as a trace file
# ---------------------------------------------------------------------------

def to_trace(run: Run, meta: dict | None = None, netstat: bool = True) -> str:
    """The run as a closed-world trace (JSON Lines) for ``conform check``:
    its calls and state changes, and after every step (``netstat``) an
    ``x-netstat`` event with the model's rows (request socks and queued
    connections too, with ``sock`` null), which checkers ignore."""
    events: list[dict] = []
    for m in walk(run):
        events += m.events
        if netstat:
            events.append(netstat_event(m.rows, step=m.step.number))
    return trace_text(trace_header(profile=B.PROFILE, world="closed", **({"meta": meta} if meta else {})), events)


def step_lines(run: Run) -> list[int]:
    """For each step of the run, the last trace line of its events in
    :func:`to_trace` (header = line 1; with the x-netstat events)."""
    out, line = [], 1
    for m in walk(run):
        line += len(m.events) + 1
        out.append(line)
    return out


# ---------------------------------------------------------------------------
# A run of other rules (a mutant's counterexample) against the real ones
# ---------------------------------------------------------------------------

OBSERVED_STEP_VARS = ("step.act", "trigger", "out.ret", "par.seg", "par.len", "par.n", "par.has_len",
                      "par.how", "par.linger0", "par.port0")


def first_deviation(c: Composed, run: Run) -> int | None:
    """The first step (1-based) of ``run`` that ``c``'s rules do not allow
    (0: the initial state; None: the whole run is a run of ``c``)."""
    try:
        p = run.path(c)
    except (KeyError, ValueError, z3.Z3Exception):
        return 0
    if not _holds(p.state(0, c.init)):
        return 0
    for k in range(len(p)):
        if not _holds(p.at(k, c.trans)):
            return k + 1
    return None


def hidden(c: Composed, run: Run, k: int) -> bool:
    """Whether step ``k`` (1-based) of ``run`` looks, through the sockets API,
    like a step ``c``'s rules allow from the same state: the same actor,
    trigger, parameters and result, and the same state of the actor after
    it when the actor has a name in the trace — only what no trace shows
    (segments sent, flags, queues, sockets not yet accepted) differs; or an
    unobserved step (a delivery, a timer) that changes no state a trace can
    show, which a trace cannot tell from one that has not happened yet."""
    p = run.path(c)
    before, after = run.state(k - 1), run.steps[k - 1]["state"]
    actor = value_name(run.steps[k - 1]["vars"]["step.act"])
    trigger = value_name(run.steps[k - 1]["vars"]["trigger"])
    if actor == "NET" or (not trigger.startswith("call:") and actor in SLOTS
                          and _observed(before, actor) == _observed(after, actor)):
        return True  # an unobserved step that changes no state a trace shows: as if it had not happened yet
    idx = {str(v): i for i, v in enumerate(c.step_vars())}
    s = z3.Solver()
    s.set("timeout", 10_000)
    s.add(z3.substitute(c.trans, *zip([c.cur[n] for n in names_of(c)], p.frames[k - 1])))
    for n in OBSERVED_STEP_VARS:
        if n in idx:
            s.add(c.step_vars()[idx[n]] == p.steps[k - 1][idx[n]])
    named = actor in SLOTS and (actor not in SERVERS or value_name(run.state(k - 1)[f"{actor}.fd"]) != "none")
    if named:  # a request sock or a queued connection has no name: no state event shows it
        s.add(c.nxt[f"{actor}.st"] == _z3(c.nxt[f"{actor}.st"].sort(), run.steps[k - 1]["state"][f"{actor}.st"]))
    return s.check() == z3.sat
