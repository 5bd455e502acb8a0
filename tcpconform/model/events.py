"""What the model is fed: the socket calls and the states a trace reports.

The trace reader (:mod:`tcpconform.check.trace`) builds these from a file;
the diagrams and the proofs build them to drive the model directly.  Both
are immutable, and hold only what the model reads (no JSON, no I/O).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

__all__ = ["Addr", "Call", "State", "format_addr"]

Addr = tuple[str, int]
"""An endpoint: the IP address (normalised, no brackets) and the port.  In
the model a port the trace never showed is a negative stand-in
(:func:`tcpconform.model.system.symbolic_port`)."""


def format_addr(addr: tuple) -> str:
    """``("127.0.0.1", 5)`` -> ``"127.0.0.1:5"``, ``("::1", 5)`` -> ``"[::1]:5"``
    (the inverse of :func:`tcpconform.check.trace.parse_addr`); a stand-in
    port the trace never showed is written ``?``."""
    host, port = addr[0], addr[1]
    if isinstance(port, int) and port < 0:
        port = "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Call:
    """A socket call and its outcome. ``length`` is the trace's ``len`` field."""

    line: int
    sock: str
    op: str
    ret: str
    addr: Addr | None = None
    local: Addr | None = None
    peer: Addr | None = None
    new: str | None = None
    backlog: int | None = None
    length: int | None = None
    n: int | None = None
    how: str | None = None
    nonblock: bool = False
    linger0: bool = False
    # Version 2: what else the call said, as sorted (key, value) pairs of
    # hashable values (an option and its value, send/recv flags, poll's
    # descriptors and results, ...; tcpconform.check.trace_v2 lists them), and
    # when it returned (seconds since the trace's first event), if the trace says.
    args: tuple = ()
    t: float | None = None

    def arg(self, key: str, default=None):
        """The value of one of :attr:`args` (``default`` when absent)."""
        for k, v in self.args:
            if k == key:
                return v
        return default


@dataclass(frozen=True, slots=True)
class State:
    """A TCP state observed for a socket at this point of the trace."""

    line: int
    sock: str
    state: str
    t: float | None = None


def _slot_init(cls: type) -> type:
    """Give a frozen, slotted dataclass an ``__init__`` that fills the slots
    directly: the generated one calls ``object.__setattr__`` once per field,
    and building a Call took about half the time of reading a trace."""
    fs = fields(cls)
    if any(f.default is MISSING and f.default_factory is not MISSING for f in fs):
        return cls  # a default_factory: keep the generated __init__
    env = {f"_s_{f.name}": getattr(cls, f.name).__set__ for f in fs}
    env.update({f"_d_{f.name}": f.default for f in fs if f.default is not MISSING})
    params = ", ".join(f.name if f.default is MISSING else f"{f.name}=_d_{f.name}" for f in fs)
    body = "".join(f"    _s_{f.name}(self, {f.name})\n" for f in fs)
    exec(f"def __init__(self, {params}):\n{body}", env)  # noqa: S102 - code made from the field names above
    env["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = env["__init__"]
    return cls


_slot_init(Call)
_slot_init(State)
