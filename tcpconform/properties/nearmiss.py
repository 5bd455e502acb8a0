"""Near misses: candidate must-reject traces for the mutants no recorded trace kills.

A mutant that makes the model accept *more* than Linux does can only be
caught by a trace Linux cannot produce.  :func:`near_misses` looks for one
next to the recorded traces that reach where the mutant differs: a recorded
trace cut after one call or state event whose result is changed (another
return value or byte count, another state), such that the real model
rejects it and the mutant accepts it.  The prefix before the change is what
this kernel did; the change is one result the mutant would allow there.

The result is a *candidate*, not evidence: that Linux cannot produce it is a
claim someone must make, with its reason (a kernel function, a measured
fact), before the trace goes into ``evidence/must-reject/``.  ``conform
mutants --near-misses DIR`` writes the candidates with an empty reason, which
a must-reject folder refuses (:func:`tcpconform.properties.adequacy.read_must_reject`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from tcpconform.check import trace
from tcpconform.model import vocab
from tcpconform.properties import adequacy
from tcpconform.properties.adequacy import Baseline, Evidence, Mutant

TRACES_PER_MUTANT = 30
"""Reaching traces tried for one mutant (the first ones, in corpus order)."""


@dataclass(frozen=True)
class NearMiss:
    """A trace the real model rejects and ``mutant`` accepts: ``source`` cut
    after its line ``line``, whose event was changed as ``change`` says."""
    mutant: Mutant
    source: str
    line: int
    change: str
    text: str  # the whole trace, JSON Lines


def _returns(op: str, cases) -> list[str]:
    """Every return value the table gives ``op`` (real ones only)."""
    found = {o.ret for c in cases if c.trigger == "call:" + op for o in c.outcomes}
    if vocab.RET_ERR in found:  # the pending error: any a connection can have
        found |= {"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}
    return sorted(r for r in found if r != vocab.WAIT and not r.startswith("$"))


def _changes(obj: dict, cases) -> Iterator[tuple[dict, str]]:
    """Each one-result change of a call or state event ``obj``, with words for it."""
    if obj.get("ev") == "state":
        for st in vocab.STATES:
            if st != obj["state"]:
                yield {**obj, "state": st}, f"state {obj['state']} -> {st}"
        return
    op, ret = obj["op"], obj["ret"]
    base = {k: v for k, v in obj.items() if k not in ("n", "local", "new", "peer")}
    for alt in _returns(op, cases):
        if alt == ret and op not in ("send", "recv"):
            continue
        if alt == "ok":
            if op in ("send", "recv"):
                for n in sorted({obj.get("len", 0), 1, 0} - ({0} if op == "send" else set())):
                    if n <= obj.get("len", 0) and not (ret == "ok" and obj.get("n") == n):
                        yield {**base, "ret": "ok", "n": n}, f"{op} {ret}{'' if obj.get('n') is None else ' n=' + str(obj['n'])} -> ok n={n}"
            elif op in ("bind", "connect", "accept"):
                continue  # its reported addresses cannot be made up
            else:
                yield {**base, "ret": "ok"}, f"{op} {ret} -> ok"
        elif alt != ret:
            yield {**base, "ret": alt}, f"{op} {ret} -> {alt}"


def _verdict_of_text(text: str, profile: str, cases=None) -> str:
    try:
        header, events = trace.read_trace(io.BytesIO(text.encode()))
        ev = Evidence("candidate", header, list(events))
    except trace.TraceError:
        return "invalid"
    return adequacy.verdict_of(ev, profile, cases)


def candidates(lines: Sequence[str], cases) -> Iterator[tuple[int, str, str]]:
    """For a recorded trace's lines: (line, change, text) of each trace cut
    after one changed call or state event, x- events left out."""
    header = json.loads(lines[0])
    meta = {k: v for k, v in header.get("meta", {}).items() if k in ("kernel", "scenario", "seed")}
    kept = [json.dumps({**header, "meta": meta})]
    for number, raw in enumerate(lines[1:], 2):
        obj = json.loads(raw)
        kind = obj.get("ev")
        if kind not in ("call", "state"):
            continue
        for changed, words in _changes(obj, cases):
            yield number, words, "\n".join(kept + [json.dumps(changed)]) + "\n"
        kept.append(raw)


def near_misses(survivors: Sequence[Mutant], base: Baseline, folder: Path,
                profile: str = "linux") -> list[NearMiss]:
    """For each survivor, the first near miss found next to the traces that
    reach where it differs (see the module docstring), if any."""
    found = []
    for m in survivors:
        if profile not in m.profiles:
            continue
        hit = None
        for i in adequacy.reaching(m, base, profile)[:TRACES_PER_MUTANT]:
            ev = base.scenarios[profile][i]
            lines = (Path(folder) / f"{ev.name}.jsonl").read_text().splitlines()
            for line, words, text in candidates(lines, m.cases):
                if (_verdict_of_text(text, profile, m.cases) == "conforms"
                        and _verdict_of_text(text, profile) == "diverges"):
                    hit = NearMiss(m, ev.name, line, words, text)
                    break
            if hit:
                break
        if hit:
            found.append(hit)
    return found


def candidate_text(miss: NearMiss) -> str:
    """The near miss as a must-reject candidate: its header says where it
    comes from and what it kills, with an empty reason to be written."""
    lines = miss.text.splitlines()
    header = json.loads(lines[0])
    header["meta"] = {"reason": "", "kills": [miss.mutant.id],
                      "derived_from": f"{miss.source} line {miss.line}: {miss.change}"}
    return "\n".join([json.dumps(header)] + lines[1:]) + "\n"


__all__ = ["NearMiss", "near_misses", "candidates", "candidate_text", "TRACES_PER_MUTANT"]
