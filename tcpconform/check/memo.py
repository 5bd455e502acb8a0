"""The memoised engine of `conform check`: the plain engine's search
(:mod:`tcpconform.check.plain`), run on configurations renamed to a
canonical form, its answers kept.

What the model does with a configuration does not depend on what the trace
calls its sockets, nor on which port numbers they use: only on which names
and ports are the same.  So the engine keeps its frontier with the names
replaced by ``#0``, ``#1``, ... and the ports by ``1``, ``2``, ... (in the
order they came), together with the renaming back to the trace's names.  An
event is renamed the same way (a name or port the frontier does not hold is
*fresh*), and the pair (canonical frontier, renamed event) is looked up in a
table of transitions; only on a miss does the plain engine search, on the
renamed configurations, and the result is stored, renamed to canonical form
again, with where each of its names and ports came from.  A trace that
repeats a connection's lifecycle on new names and ports is then, after the
first lifecycle or two, one dictionary look-up per event: a lazily built,
determinised automaton.

Parked connections (:mod:`tcpconform.check.parking`) are kept in canonical
form of their own, each with its own renaming, indexed by the trace's names
and addresses as the plain engine indexes them; an event that meets one
joins it in, and the join is part of the looked-up key (the parked
connection, and which of its ports are ports of the frontier).  The plain
engine parks every connection it can after each event, and joins back
those the next event may meet (:meth:`~tcpconform.check.parking.ParkedIndex.met_by`);
this one parks, before an event, those connections of its frontier that the
event does not meet, and leaves the others in the frontier: each event sees
the same connections as in the plain engine, without a park and a join for
each event of a connection's life.

Exactly the plain engine's answers: a divergence or a search limit is
handed to a plain engine built from this one's state (the frontier and the
parked connections renamed back, :meth:`PlainSearch.from_state`), which then
goes on; so the verdict, its line, reason and "allowed" list are the plain
engine's own.  The fast path turns itself off (everything goes to the plain
engine) if the model's configurations or the trace's events gain a field
whose role :data:`EP_ROLES` / :data:`CALL_ROLES` does not say.

Memory: the tables are bounded (:data:`CACHE_MAX` transitions, then
emptied, like the model's own closure cache); the engine's state is the
frontier and the parked connections, as in the plain engine.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from tcpconform.check import parking
from tcpconform.check.parking import Parked, ParkedIndex
from tcpconform.check.plain import PlainSearch
from tcpconform.check.verdict import Tally
from tcpconform.model import rules, system
from tcpconform.model.events import Call, State
from tcpconform.model.system import Config, Ep, ModelError, SearchBound, Unnamed
from tcpconform.model.table import Case

CACHE_MAX = 10_000
"""Transitions kept per (profile, world); the table is emptied when full.
A transition with its canonical configurations takes about 10-20 KB (a
trace of repeated lifecycles needs a few dozen; one whose every state is
new fills the table, up to some 150 MB, and is then rested, see WINDOW)."""

STRICT = False
"""Raise a fault of this module instead of handing the event to the plain
engine (the tests set it)."""

WINDOW = 256
REST = 2048
"""When more than a fifth of the last WINDOW events missed the table (data
of ever new sizes, say), the next REST events go to the plain engine (a
miss costs a few plain steps: renaming in and out), then the memoised
search resumes from its state; after each window that misses again right
after resuming, the rest is twice as long."""

# What each field of an endpoint / event holds, for renaming: "addr" an
# (ip, port) or None, "key" an endpoint key or None, "keys" a tuple of keys,
# "data" anything with no name or port in it (copied as it is), "name" a
# socket name of the trace, "skip" not part of what the model sees.
EP_ROLES = {"core": "data", "local": "addr", "remote": "addr", "cap": "data",
            "queue": "keys", "parent": "key", "opts": "data", "fam": "data"}
CALL_ROLES = {"line": "skip", "sock": "name", "op": "data", "ret": "data", "addr": "addr",
              "local": "addr", "peer": "addr", "new": "name", "backlog": "data", "length": "data",
              "n": "data", "how": "data", "nonblock": "data", "linger0": "data", "args": "data", "t": "skip"}
STATE_ROLES = {"line": "skip", "sock": "name", "state": "data", "t": "skip"}


def unknown_fields() -> list[str]:
    """Fields of the model's configurations or of the trace's events whose
    role this module does not know (then the fast path is off)."""
    out = [f"Ep.{f}" for f in Ep._fields if f not in EP_ROLES]
    out += [f"Config.{f}" for f in Config._fields if f not in ("eps", "net")]
    out += [f"Call.{f.name}" for f in dataclasses.fields(Call) if f.name not in CALL_ROLES]
    out += [f"State.{f.name}" for f in dataclasses.fields(State) if f.name not in STATE_ROLES]
    return out


ENABLED = not unknown_fields() and tuple(EP_ROLES) == Ep._fields

# Canonical ports: the ports the trace showed become 1, 2, ...; a stand-in
# port (negative, tcpconform.model.system.symbolic_port) of a socket in the frontier
# becomes the stand-in of that socket's canonical name; any other negative
# port becomes -(NEG + 1), -(NEG + 2), ... (below every stand-in port).
NEG = 1 << 33
_SYM_NAMES: dict[str, int] = {}


def _name(i: int) -> str:
    """The canonical name of rank ``i``: canonical names sort as their ranks
    (the model visits a configuration's endpoints in the order of their
    names, so a renaming must keep that order)."""
    return f"#{i:09d}"


def _sym(name: str) -> int:
    p = _SYM_NAMES.get(name)
    if p is None:
        p = _SYM_NAMES[name] = system.symbolic_port(name)
    return p


# --------------------------------------------------------------------------
# Renaming configurations
def _values(configs) -> tuple[set, set]:
    """The names and (non-zero) ports that occur in ``configs``."""
    names: set = set()
    ports: set = set()

    def key(k):
        if type(k) is Unnamed:
            a, b = k
            ports.add(a[1])
            ports.add(b[1])
        else:
            names.add(k)

    for cfg in configs:
        for k, e in cfg.eps:
            key(k)
            for role, v in zip(EP_ROLES.values(), e):
                if v is None or role == "data":
                    continue
                if role == "addr":
                    ports.add(v[1])
                elif role == "key":
                    key(v)
                else:
                    for q in v:
                        key(q)
        for (src, dst), _segs in cfg.net:
            ports.add(src[1])
            ports.add(dst[1])
    ports.discard(0)
    return names, ports


class _Renamer:
    """Renames names and ports by two dictionaries (port 0 stays 0)."""

    def __init__(self, names: dict, ports: dict):
        self.names, self.ports = names, ports
        self.fns = [self._role(role) for role in EP_ROLES.values()]

    def addr(self, a):
        if a is None or not a[1]:
            return a
        return (a[0], self.ports[a[1]])

    def key(self, k):
        if k is None:
            return None
        if type(k) is Unnamed:
            return Unnamed(self.addr(k.local), self.addr(k.remote))
        return self.names[k]

    def _role(self, role):
        if role == "addr":
            return self.addr
        if role == "key":
            return self.key
        if role == "keys":
            return lambda ks: tuple(self.key(k) for k in ks)
        return lambda v: v

    def config(self, cfg: Config) -> Config:
        eps = tuple(sorted((self.key(k), Ep(*[f(v) for f, v in zip(self.fns, e)])) for k, e in cfg.eps))
        net = tuple(sorted(((self.addr(s), self.addr(d)), segs) for (s, d), segs in cfg.net))
        return Config(eps, net)


def _canon(configs, rank_name, rank_port) -> tuple[frozenset, dict, dict]:
    """``configs`` renamed to canonical form: names numbered in the order of
    ``rank_name``, ports the trace showed in the order of ``rank_port``, the
    stand-in port of a socket present as its canonical name's, any other
    negative port in the order of ``rank_port``.  Returns the canonical
    configurations and the renamings (old -> canonical) of names and ports."""
    names, ports = _values(configs)
    nmap = {n: _name(i) for i, n in enumerate(sorted(names, key=rank_name))}
    sym = {_sym(n): n for n in names}
    pmap: dict = {}
    pos = neg = 0
    for p in sorted(ports, key=rank_port):
        if p in sym:
            pmap[p] = _sym(nmap[sym[p]])
        elif p > 0:
            pos += 1
            pmap[p] = pos
        else:
            neg += 1
            pmap[p] = -(NEG + neg)
    r = _Renamer(nmap, pmap)
    return frozenset(r.config(c) for c in configs), nmap, pmap


def _order(v) -> tuple:
    """The order of canonical (or joined) values: names by number, ports
    shown by the trace by number, other negative ports by magnitude."""
    if isinstance(v, str):
        return (0, v)
    return (1, v) if v > 0 else (2, -v)


# --------------------------------------------------------------------------
class _Canonical:
    """Part of the engine's state in canonical form (the frontier, or one
    parked connection): a set of canonical configurations with its renaming
    back to the trace (``sig``: canonical -> trace; ``inv``: trace -> canonical)."""
    __slots__ = ("configs", "sig", "inv", "ports")

    def __init__(self, configs: frozenset, sig: dict, ports: tuple = ()):
        self.configs = configs
        self.sig = sig
        self.inv = {o: v for v, o in sig.items()}
        self.ports = ports


class _Transition:
    """A stored transition: the next canonical frontier and where each of
    its values comes from, and the connections parked with theirs."""
    __slots__ = ("frontier", "same", "drops", "extras", "tmap", "parked", "plain", "timed")

    def __init__(self, frontier, tmap, parked, old_values, timed=False):
        self.frontier = frontier
        # the event needed a timer: under a trace's times (tcpconform.model.timing)
        # whether it could have fired depends on when, so the transition is not reused then
        self.timed = timed
        self.tmap = tmap
        self.parked = parked
        # the common case: every value the old frontier kept keeps its
        # canonical number, so its renaming is updated in place
        self.same = all(env != 0 or t == s for t, env, s in tmap)
        kept = {s for _t, env, s in tmap if env == 0}
        self.drops = tuple(v for v in old_values if v not in kept)
        self.extras = tuple((t, env, s) for t, env, s in tmap if env != 0)
        # nothing to rename: only the configurations change
        self.plain = self.same and not self.drops and not self.extras and not parked


_CACHES: dict = {}
_INTERN: dict = {}  # canonical frontiers resumed from the plain engine (cleared with the tables)
_PARKABLE: dict = {}  # canonical frontier -> the connections that might be parked (Parked)
DIVERGES = object()


def clear_tables() -> None:
    """Empty the stored transitions and what goes with them."""
    for tables in _CACHES.values():
        for table in tables:
            table.clear()
    for table in (_INTERN, _PARKABLE):
        table.clear()


def _tables_for(profile: str, world: str, cases: Sequence[Case] | None) -> tuple[dict, dict]:
    """The stored transitions for (profile, world) under a rule table: the
    model's own are kept for the process's life; those of another table (a
    mutant) only while that table is the last other one asked for, so no
    transition is ever looked up under a table it was not made with."""
    if cases is None or cases is rules.CASES:
        return _CACHES.setdefault((profile, world), ({}, {}))
    if _OTHER_TABLE and _OTHER_TABLE[0] is not cases:
        for key in [k for k in _CACHES if len(k) == 3]:
            del _CACHES[key]
    _OTHER_TABLE[:] = [cases]
    return _CACHES.setdefault((profile, world, id(cases)), ({}, {}))


_OTHER_TABLE: list = []  # the one table other than the model's whose transitions are kept


def _resolve(envs, env, s):
    if env >= 0:
        return envs[env][s]
    e2, n = s
    return system.symbolic_port(envs[e2][n])


class MemoSearch:
    """The memoised engine: the plain engine's answers (see the module
    docstring), with ``feed``, ``events``, ``frontier`` and ``parked`` as
    :class:`~tcpconform.check.plain.PlainSearch` has them; no coverage."""

    coverage = None
    x_checked = 0  # this engine checks no x- observations

    def __init__(self, profile: str = "linux", world: str = "closed", cases: Sequence[Case] | None = None):
        self.profile = profile
        self.world = world
        self.cases = cases  # the rule table: the model's unless another is given (a mutant)
        self._events = 0
        self.cache, self._intern = _tables_for(profile, world, cases)
        self._f = _Canonical(frozenset({system.EMPTY}), {})
        self.tally = Tally()  # what the trace's calls moved so far, shared with the plain engine it hands to
        self._plain: PlainSearch | None = None if ENABLED else PlainSearch.from_state(
            profile, world, {system.EMPTY}, cases=cases, tally=self.tally)
        self._parked: dict[int, _Canonical] = {}   # handle -> parked connection, canonical
        self._parked_as: dict[int, Parked] = {}     # handle -> how the index knows it, in trace terms
        self._handles = 0
        self._index = ParkedIndex()
        self._misses = 0
        self._window = WINDOW      # events before the miss count is looked at
        self._rest_until = None    # the plain engine is resting the table until this event
        self._rest = REST
        self._resumed = False

    # -- the plain engine's view -----------------------------------------------
    @property
    def events(self) -> int:
        return self._plain.events if self._plain is not None else self._events

    @property
    def frontier(self) -> set[Config]:
        if self._plain is not None:
            return self._plain.frontier
        return set(_to_trace(self._f))

    def endpoint_states(self):
        """(key in the trace's names, endpoint fields) of every endpoint of the frontier and
        of the parked connections (what a trace's clock follows), without renaming
        whole configurations back."""
        if self._plain is not None:
            yield from self._plain.endpoint_states()
            return
        for canonical in (self._f, *self._parked.values()):
            sig = canonical.sig
            seen = set()
            for c in canonical.configs:
                for k, e in c.eps:
                    if (k, e.core) not in seen:
                        seen.add((k, e.core))
                        yield _key_to_trace(k, sig), e.core

    @property
    def parked(self) -> dict[Parked, set[Config]]:
        if self._plain is not None:
            return self._plain.parked
        return {self._parked_as[i]: set(_to_trace(p)) for i, p in self._parked.items()}

    def to_plain(self) -> PlainSearch:
        """A plain engine in the same state."""
        if self._plain is not None:
            return self._plain
        return PlainSearch.from_state(self.profile, self.world, self.frontier, self.parked, self._events,
                                      self.cases, self.tally)

    def closure_for(self, call, timers: bool = False) -> set[Config]:
        """As :meth:`PlainSearch.closure_for` (asked of a plain engine in the same state)."""
        return self.to_plain().closure_for(call, timers)

    # -- events ----------------------------------------------------------------
    def feed(self, ev):
        """Apply one event; return a divergence verdict, or None."""
        # The common case first, inline: an event whose names are all in the
        # frontier, with no address and nothing parked to join (a listen asks
        # for its own port again, which a parked connection may hold: it goes
        # the long way whenever anything is parked), whose transition is stored.  Its key is the one _feed would make.
        f = self._f
        t = type(ev)
        key = None
        if t is State:
            s = f.inv.get(ev.sock)
            if s is not None:
                key = (f.configs, (s, ev.state))
        elif t is Call and ev.addr is None and ev.local is None and ev.peer is None and ev.new is None:
            s = f.inv.get(ev.sock)
            if s is not None:
                key = (f.configs, (ev.op, ev.ret, s, None, None, None, None, ev.backlog,
                                   ev.length, ev.n, ev.how, ev.nonblock, ev.linger0, ev.args))
        if (key is not None and self._plain is None and ev.sock not in self._index.by_name
                and not (t is Call and ev.op == "listen" and self._parked)
                and all(s in names for names, _pair in _PARKABLE.get(f.configs, _NOT_YET))):
            r = self.cache.get(key)
            if r is not None and not (r.timed and system.CLOCK.get() is not None):
                self._events += 1
                if t is Call and ev.n:
                    self.tally.note(ev)
                if r.plain:
                    f.configs = r.frontier
                else:
                    self._take(r, [f.sig, []])
                return None
        return self._feed(ev)

    def _feed(self, ev):
        if self._plain is not None:
            bad = self._plain.feed(ev)
            if self._rest_until is not None and self._plain.events >= self._rest_until and bad is None:
                self._resume()
            return bad
        if not hasattr(ev, "sock"):
            return None  # an x- extension: observations this engine does not read
        self._park_unmet(ev)
        unparked = self._unpark_for(ev) if self._parked else ()
        joined = [p for p, _conn in unparked]
        envs = [self._f.sig]
        invs = [self._f.inv]
        wkey = ()
        if joined:
            wkey = []
            for p in joined:
                wkey.append((p.configs, tuple(_ref(p.sig[v], invs) for v in p.ports)))
                envs.append(p.sig)
                invs.append(p.inv)
            wkey = tuple(wkey)
        fresh: list = []
        ekey = _event_key(ev, invs, fresh)
        nsig = ()
        if joined or any(type(o) is str for o in fresh):
            nsig = _name_order(invs, fresh)
        key = (self._f.configs, ekey) if not wkey and not nsig else (self._f.configs, wkey, ekey, nsig)
        r = self.cache.get(key)
        self._window -= 1
        if r is None:
            self._misses += 1
            try:
                r = self._search(ev, joined, fresh)
            except SearchBound:
                raise  # a bound of the check, not of this engine: the plain engine would meet it too
            except ModelError:
                r = DIVERGES
            except Exception:  # a fault of this module: the plain engine answers instead
                if STRICT:
                    raise
                r = DIVERGES
            if r is DIVERGES:
                return self._fall_back(ev, unparked)
            self._store(key, r)
        if r.timed and system.CLOCK.get() is not None:
            return self._by_the_clock(ev, unparked)
        self._events += 1
        envs.append(fresh)
        self._take(r, envs)
        self.tally.note(ev)
        if self._window <= 0:
            if self._misses * 5 > WINDOW:
                self._rest = self._rest * 2 if self._resumed else REST
                self._rest_until = self._events + self._rest
                self._plain = self.to_plain()
            self._window, self._misses, self._resumed = WINDOW, 0, False
        return None

    def _resume(self) -> None:
        """Take the plain engine's state back into canonical form."""
        ch, self._plain, self._rest_until, self._resumed = self._plain, None, None, True
        self._events = ch.events
        self._f = _from_trace(ch.frontier)
        self._parked, self._parked_as, self._index = {}, {}, ParkedIndex()
        for conn, parts in ch.parked.items():
            self._add_parked(_from_trace(parts), conn)

    def _park_unmet(self, ev) -> None:
        """Park, before the event, the connections of the frontier that the
        event does not meet (as the plain engine would have after the
        previous event, joining back only those the event meets)."""
        f = self._f
        conns = _parkable(f.configs)
        if not conns:
            return
        met = _met(conns, ev, f.inv, parking.own_ports(f.configs, f.inv.get(ev.sock), ev))
        if len(met) == len(conns):
            return
        keep = frozenset(n for names, _pair in met for n in names)
        key = ("park", f.configs, keep)
        r = self.cache.get(key)
        if r is None:
            try:
                r = self._search(None, (), [], keep=keep)
            except SearchBound:
                raise
            except Exception:  # cannot happen; then the event goes on with the frontier as it is
                if STRICT:
                    raise
                return
            self._store(key, r)
        self._take(r, [f.sig, []])

    def _store(self, key, r: _Transition) -> None:
        """Keep a transition; the tables are emptied when full (bounded memory)."""
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
            self._intern.clear()
            _INTERN.clear()
            _PARKABLE.clear()
        self.cache[key] = r

    def _take(self, r: _Transition, envs: list) -> None:
        """Take a stored transition: the next frontier, its renaming back to
        the trace (resolved in ``envs``: the renamings of the frontier and the
        joined parked connections, then the event's fresh values), the
        connections parked."""
        parked = [(_Canonical(configs, {t: _resolve(envs, env, s) for t, env, s in tmap}, ports), names, pair)
                  for configs, tmap, ports, names, pair in r.parked]
        f = self._f
        if r.same:
            sig, inv = f.sig, f.inv
            extras = [(t, _resolve(envs, env, s)) for t, env, s in r.extras]
            for d in r.drops:
                del inv[sig.pop(d)]
            for t, o in extras:
                sig[t] = o
                inv[o] = t
            f.configs = r.frontier
        else:
            self._f = _Canonical(r.frontier, {t: _resolve(envs, env, s) for t, env, s in r.tmap})
        for p, names, pair in parked:
            sig = p.sig
            self._add_parked(p, Parked(frozenset(_key_to_trace(n, sig) for n in names),
                                       frozenset((a[0], sig[a[1]] if a[1] else 0) for a in pair)))

    def _by_the_clock(self, ev, unparked=()):
        """An event that needs a timer, in a trace with times: the plain engine, on the
        trace's own names (which the clock knows), decides it; the memoised search
        takes over again after it."""
        for p, conn in unparked:
            self._add_parked(p, conn)
        self._plain = self.to_plain()
        self._rest_until = self._plain.events + 1
        resumed = self._resumed
        bad = self._plain.feed(ev)
        if bad is None:
            self._resume()
            self._resumed = resumed  # not a rest the window decided
        return bad

    def _fall_back(self, ev, unparked=()):
        """Hand the rest of the trace to a plain engine in the same state."""
        for p, conn in unparked:  # joined back by the plain engine itself
            self._add_parked(p, conn)
        self._plain = self.to_plain()
        return self._plain.feed(ev)

    # -- the search, on renamed configurations --------------------------------
    def _search(self, ev, joined, fresh, keep=None):
        """Join, search and park on canonical configurations; the result in
        canonical form, with where its values come from.  With ``ev`` None,
        only park (what ``keep`` does not name)."""
        sources = [self._f] + list(joined)
        env_fresh = len(sources)
        # the joined space: names ranked in the trace's order, ports numbered
        # source by source (a port of the trace shared by several is one port)
        entries = [(o, i, v) for i, p in enumerate(sources) for v, o in p.sig.items() if isinstance(v, str)]
        entries += [(o, env_fresh, j) for j, o in enumerate(fresh) if isinstance(o, str)]
        entries.sort(key=lambda e: e[0])
        src: dict = {}   # joined value -> (env, value)
        jinv: dict = {}  # trace value -> joined value
        nmaps: list[dict] = [{} for _ in sources]
        for rank, (o, i, v) in enumerate(entries):
            j = _name(rank)
            src[j] = (i, v)
            jinv[o] = j
            if i < env_fresh:
                nmaps[i][v] = j
        pos = neg = 0
        configs = None
        renamers: list[_Renamer] = []
        for i, p in enumerate(sources):
            nmap = nmaps[i]
            psym = {_sym(v): v for v in nmap}
            pmap = {}
            for v in sorted((v for v in p.sig if not isinstance(v, str)), key=_order):
                o = p.sig[v]
                if v in psym:
                    j = _sym(nmap[psym[v]])
                elif o in jinv:
                    j = jinv[o]
                elif v > 0:
                    pos += 1
                    j = pos
                else:
                    neg += 1
                    j = -(NEG + neg)
                pmap[v] = j
                src.setdefault(j, (i, v))
                jinv.setdefault(o, j)
            r = _Renamer(nmap, pmap)
            renamers.append(r)
            part = {r.config(c) for c in p.configs}
            configs = part if configs is None else {parking.join(c, u) for c in configs for u in part}
        for j, o in enumerate(fresh):
            if not isinstance(o, str):
                pos += 1
                src[pos] = (env_fresh, j)
                jinv[o] = pos
        ch = PlainSearch.from_state(self.profile, self.world, configs, cases=self.cases)
        if ev is None:
            ch.park(keep=frozenset(renamers[0].key(v) for v in keep))
        else:
            jev = _rename_event(ev, jinv)
            # on renamed configurations the clock's names mean nothing: search as without
            # times; a transition that needed a timer is marked (and, under a clock, not used)
            token = system.CLOCK.set(None)
            try:
                nxt = ch.advance(jev)
            finally:
                system.CLOCK.reset(token)
            if nxt is None:
                return DIVERGES
            ch.frontier = nxt  # what the next event does not meet is parked then

        def source(v):
            if v in src:
                return src[v]
            for n in [n for n in src if isinstance(n, str)]:
                if _sym(n) == v:
                    return (-1, src[n])
            raise ModelError(f"value {v!r} of no known origin")  # cannot happen: search plainly

        def canon(cfgs):
            cc, nmap, pmap = _canon(cfgs, _order, _order)
            tmap = tuple((t, *source(v)) for m in (nmap, pmap) for v, t in m.items())
            return cc, tmap, tuple(sorted(pmap.values(), key=_order)), nmap, pmap

        intern = self._intern
        front, tmap, _ports, _n, _p = canon(ch.frontier)
        front = intern.setdefault(front, front)
        parked = []
        for (conn_names, pair), parts in ch.parked.items():
            cc, ptmap, pports, nmap, pmap = canon(parts)
            cc = intern.setdefault(cc, cc)
            keys = _Renamer(nmap, pmap).key
            parked.append((cc, ptmap, pports, tuple(keys(n) for n in conn_names),
                           tuple((a[0], pmap[a[1]] if a[1] else 0) for a in pair)))
        return _Transition(front, tmap, tuple(parked), tuple(self._f.sig), timed=ev is not None and ch.used_timers)

    # -- parked connections ----------------------------------------------------
    def _unpark_for(self, ev) -> list:
        """Take out every parked connection the event may meet: (canonical, as indexed)."""
        f = self._f
        ports = {f.sig.get(p, p) for p in parking.own_ports(f.configs, f.inv.get(ev.sock), ev)}
        return [self._remove_parked(i) for i in sorted(self._index.met_by(ev, ports))]

    def _add_parked(self, p: _Canonical, conn: Parked) -> None:
        self._handles += 1
        self._parked[self._handles] = p
        self._parked_as[self._handles] = conn
        self._index.add(self._handles, conn)

    def _remove_parked(self, i: int) -> tuple:
        conn = self._parked_as.pop(i)
        self._index.remove(i, conn)
        return self._parked.pop(i), conn


# --------------------------------------------------------------------------
# Events
_NOT_YET = ((frozenset(), frozenset()),)  # no socket is in it: the prelude leaves the event to _feed


def _parkable(configs: frozenset) -> tuple:
    """The connections of a canonical frontier that might be parked
    (:func:`tcpconform.check.parking.parkable`), known from the frontier alone (so kept)."""
    conns = _PARKABLE.get(configs)
    if conns is None:
        conns = tuple(parking.parkable(next(iter(configs))))
        if len(_PARKABLE) >= CACHE_MAX:
            _PARKABLE.clear()
        _PARKABLE[configs] = conns
    return conns


def _met(conns: tuple, ev, inv: dict, own: frozenset = frozenset()) -> list:
    """The parkable connections (canonical) that the event may meet, by the
    plain engine's rule (:meth:`tcpconform.check.parking.ParkedIndex.met_by`),
    in canonical terms."""
    def addr(a):
        if a is None:
            return None
        a = tuple(a)
        return a if not a[1] else (a[0], inv.get(a[1]))

    names = {inv.get(ev.sock)}
    pair = target = None
    ports: set = set(own)  # canonical already
    if hasattr(ev, "op"):
        if ev.new:
            names.add(inv.get(ev.new))
        if ev.op == "bind":
            ports |= {inv.get(a[1]) for a in (ev.addr, ev.local) if a is not None and a[1]}
        elif ev.op == "connect" and ev.addr is not None:
            target = addr(system.normalize(tuple(ev.addr)))
            if ev.local is not None:
                pair, target = frozenset((addr(ev.local), target)), None
        elif ev.op == "accept" and ev.local is not None and ev.peer is not None:
            pair = frozenset((addr(ev.local), addr(ev.peer)))
    names.discard(None)
    ports.discard(None)
    return [(n, p) for n, p in conns
            if n & names or p == pair or target in p or any(a[1] in ports for a in p)]


def _ref(o, invs):
    """A trace value as the key sees it: its canonical value in the
    frontier, (i, value) in the i-th joined parked connection, or None."""
    v = invs[0].get(o)
    if v is not None:
        return v
    for i in range(1, len(invs)):
        v = invs[i].get(o)
        if v is not None:
            return (i, v)
    return None


_FRESH = [("f", j) for j in range(16)]


def _vref(o, invs, fresh):
    if o is None:
        return None
    r = _ref(o, invs)
    if r is not None:
        return r
    if o in fresh:
        j = fresh.index(o)
    else:
        j = len(fresh)
        fresh.append(o)
    return _FRESH[j] if j < 16 else ("f", j)


def _aref(a, invs, fresh):
    if a is None or not a[1]:
        return a
    return (a[0], _vref(a[1], invs, fresh))


def _name_order(invs, fresh) -> tuple:
    """Where the names of the joined parked connections and the event's fresh names fall
    in the trace's order of names (the joined space keeps that order)."""
    entries = [(o, i, v) for i, inv in enumerate(invs) for o, v in inv.items() if type(o) is str]
    entries += [(o, -1, j) for j, o in enumerate(fresh) if type(o) is str]
    entries.sort(key=lambda e: e[0])
    return tuple((i, v) for _o, i, v in entries)


def _event_key(ev, invs, fresh) -> tuple:
    """The event with its names and ports renamed (fresh ones numbered in
    order) and everything else as it is: the event part of a look-up key."""
    if type(ev) is Call:
        return (ev.op, ev.ret, _vref(ev.sock, invs, fresh), _vref(ev.new, invs, fresh),
                _aref(ev.addr, invs, fresh), _aref(ev.local, invs, fresh), _aref(ev.peer, invs, fresh),
                ev.backlog, ev.length, ev.n, ev.how, ev.nonblock, ev.linger0, ev.args)
    return (_vref(ev.sock, invs, fresh), ev.state)


def _rename_event(ev, jinv):
    def addr(a):
        return a if a is None or not a[1] else (a[0], jinv[a[1]])
    if type(ev) is Call:
        return dataclasses.replace(ev, sock=jinv[ev.sock], new=None if ev.new is None else jinv[ev.new],
                                   addr=addr(ev.addr), local=addr(ev.local), peer=addr(ev.peer))
    return dataclasses.replace(ev, sock=jinv[ev.sock])


def _key_to_trace(k, sig: dict):
    if type(k) is not Unnamed:
        return sig[k]
    a, b = k
    return Unnamed((a[0], sig[a[1]] if a[1] else 0), (b[0], sig[b[1]] if b[1] else 0))


def _from_trace(configs) -> _Canonical:
    """Configurations of the trace in canonical form (names keep their
    order; ports numbered in the order of their numbers)."""
    cc, nmap, pmap = _canon(configs, lambda n: n, lambda p: (p < 0, abs(p)))
    cc = _INTERN.setdefault(cc, cc)
    sig = {v: o for m in (nmap, pmap) for o, v in m.items()}
    return _Canonical(cc, sig, tuple(sorted(pmap.values(), key=_order)))


def _to_trace(canonical: _Canonical) -> list[Config]:
    names = {v: o for v, o in canonical.sig.items() if isinstance(v, str)}
    ports = {v: o for v, o in canonical.sig.items() if not isinstance(v, str)}
    r = _Renamer(names, ports)
    return [r.config(c) for c in canonical.configs]
