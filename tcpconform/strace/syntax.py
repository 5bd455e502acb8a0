"""Reading strace's output: one line into a :class:`Line`, and a call's
arguments into Python values.

strace prints C-like text (``bind(3<TCP:[1763541]>, {sa_family=AF_INET,
sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0 <0.000132>``).
The grammar read here is the one strace 6.1 writes with ``-f -yy -Y`` and
``-tt``, ``-ttt`` or no times, with or without ``-T``:

    line    := [PID[<COMM>] | "[pid " PID "]"] [TIME] body
    body    := NAME "(" args [") = " RET] [" <unfinished ...>"] [" <" DUR ">"]
             | "<... " NAME " resumed>" args ") = " RET [" <" DUR ">"]
             | "+++ exited with " N " +++" | "+++ killed by " SIG ... " +++"
             | "--- " SIG ... " ---"

Values: integers (decimal, hex, octal), strings (``"..."``, maybe followed by
``...``), descriptors (``4<TCP:[...]>``), ``{key=value, ...}`` structures,
``[...]`` arrays (``[128 => 16]`` is the value after the call), ``A|B``
flag sets, and ``f(args)`` forms such as ``htons(80)``.  Anything else is
kept as its text.  Nothing here knows about TCP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEAD = re.compile(
    r"(?:(?:\[pid\s+)?(?P<pid>\d+)(?:<(?P<comm>[^>]*)>)?\]?\s+)?"
    r"(?:(?P<hms>\d\d:\d\d:\d\d(?:\.\d+)?)|(?P<epoch>\d{9,}\.\d+))?\s*")
_DUR = re.compile(r"\s+<(?P<dur>\d+\.\d+)>\s*\Z")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"<\.\.\. (?P<name>\w+) resumed>")
_CALL = re.compile(r"(?P<name>\w+)\(")
_EXITED = re.compile(r"\+\+\+ (?:exited with (?P<code>-?\d+)|killed by (?P<sig>\w+)[^+]*) \+\+\+\s*\Z")
_SIGNAL = re.compile(r"--- (?P<sig>\w+)")
_RET = re.compile(r"\) += (?P<ret>.*?)\s*\Z")


@dataclass
class Line:
    """One line of a log: ``kind`` is ``"call"`` (complete), ``"entry"``
    (``<unfinished ...>``), ``"exit"`` (``<... resumed>``), ``"gone"`` (the
    process exited or was killed), ``"signal"`` or ``"other"``."""
    number: int
    kind: str
    pid: int | None
    comm: str | None
    time: float | None
    name: str = ""
    args: str = ""            # the argument text (for an exit: what came after "resumed>")
    ret: str | None = None    # the text after " = "
    dur: float | None = None


def _seconds(hms: str | None, epoch: str | None) -> float | None:
    if epoch:
        return float(epoch)
    if hms:
        h, m, s = hms.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return None


def read_line(text: str, number: int) -> Line:
    """One line of strace output (its line number kept for messages)."""
    text = text.rstrip("\n")
    head = _HEAD.match(text)
    pid = int(head["pid"]) if head["pid"] else None
    time = _seconds(head["hms"], head["epoch"])
    body = text[head.end():]
    common = dict(number=number, pid=pid, comm=head["comm"], time=time)
    gone = _EXITED.match(body)
    if gone:
        return Line(kind="gone", name="exit" if gone["code"] is not None else gone["sig"], **common)
    if body.startswith("---"):
        sig = _SIGNAL.match(body)
        return Line(kind="signal", name=sig["sig"] if sig else "", **common)
    dur = None
    tail = _DUR.search(body)
    if tail:
        dur = float(tail["dur"])
        body = body[:tail.start()]
    if body.endswith(_UNFINISHED):
        call = _CALL.match(body)
        if not call:
            return Line(kind="other", args=body, **common)
        return Line(kind="entry", name=call["name"], args=body[call.end():-len(_UNFINISHED)], **common)
    resumed = _RESUMED.match(body)
    if resumed:
        rest = body[resumed.end():]
        args, ret = _split_ret(rest)
        return Line(kind="exit", name=resumed["name"], args=args, ret=ret, dur=dur, **common)
    call = _CALL.match(body)
    if not call:
        return Line(kind="other", args=body, **common)
    args, ret = _split_ret(body[call.end():])
    if ret is None:
        return Line(kind="other", args=body, **common)
    return Line(kind="call", name=call["name"], args=args, ret=ret, dur=dur, **common)


def _split_ret(text: str) -> tuple[str, str | None]:
    """``args) = ret`` into its two parts; the last ``) = `` at nesting level 0."""
    depth = 0
    quoted = False
    i = 0
    cut = None
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0 and ch == ")":
                cut = i
                break
            depth -= 1
        i += 1
    if cut is None:
        return text, None
    m = _RET.match(text, cut)
    if not m:
        return text, None
    return text[:cut], m["ret"]


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Fd:
    """A descriptor as ``-yy`` prints it: its number and what it is (``TCP:[127.0.0.1:80]``)."""
    num: int
    what: str = ""


@dataclass(frozen=True)
class Str:
    """A string argument (its content does not matter here); ``cut``: strace shortened it."""
    text: str
    cut: bool = False


@dataclass(frozen=True)
class Flags:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Form:
    """``name(args)`` as strace prints e.g. ``htons(8000)`` or ``inet_addr("127.0.0.1")``."""
    name: str
    args: tuple


@dataclass
class Struct:
    fields: dict = field(default_factory=dict)
    items: list = field(default_factory=list)   # members written without a name

    def get(self, key, default=None):
        return self.fields.get(key, default)


@dataclass(frozen=True)
class Named:
    """``name=value`` among a call's arguments (``flags=CLONE_VM|...``)."""
    name: str
    value: object


ELLIPSIS = "..."
_NAMED = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?![=>])")


class ValueError_(Exception):
    """The argument text could not be read; ``at``: the character offset."""

    def __init__(self, message: str, at: int):
        super().__init__(message)
        self.at = at


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*")(?P<cut>\.\.\.)?
  | (?P<inv>~\d+)(?![\w.])
  | (?P<num>-?(?:0x[0-9a-fA-F]+|\d+))(?![\w.])
  | (?P<ellipsis>\.\.\.)
  | (?P<word>[~&!]?[A-Za-z_][\w.]*|-?\d[\w.:]*)
  | (?P<arrow>=>)
  | (?P<op>==|&&|\|\||[-+*/<>!])
  | (?P<punct>[{}\[\](),=|])
""", re.VERBOSE | re.DOTALL)


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def _skip(self):
        while True:
            m = _TOKEN.match(self.text, self.pos)
            if m and (m["space"] or m["comment"]):
                self.pos = m.end()
            else:
                return

    def peek(self) -> str:
        self._skip()
        return self.text[self.pos:self.pos + 1]

    def take(self, ch: str):
        if self.peek() != ch:
            raise ValueError_(f"expected {ch!r}", self.pos)
        self.pos += 1

    def values(self, close: str) -> list:
        """Values separated by commas (in an array also by spaces, as in
        select's ``[3 4]``) up to ``close`` (not consumed)."""
        out = []
        while self.peek() not in (close, ""):
            if self.text.startswith("=>", self.pos):   # "in => out": the value after the call
                self.pos += 2
                after = self.value(in_array=close == "]")
                if out and isinstance(out[-1], Struct) and isinstance(after, Struct):   # clone3's {...} => {...}
                    after = Struct({**out[-1].fields, **after.fields}, out[-1].items + after.items)
                out[-1:] = [after]
                if self.peek() == ",":
                    self.pos += 1
                continue
            named = _NAMED.match(self.text, self.pos)
            if named:
                self.pos = named.end()
                out.append(Named(named.group(1), self.value()))
            else:
                out.append(self.value(in_array=close == "]"))
            if self.peek() == ",":
                self.pos += 1
        return out

    def value(self, in_array: bool = False):
        self._skip()
        start = self.pos
        parts = [self.atom()]
        while self.peek() == "|" and self.text[self.pos:self.pos + 2] != "||":
            self.pos += 1
            parts.append(self.atom())
        if not in_array and self.peek() not in (",", "}", "]", ")", "=", "") \
                and not self.text.startswith("=>", self.pos):
            # an expression such as WIFEXITED(s) && WEXITSTATUS(s) == 0: kept as text
            while self.peek() not in (",", "}", "]", ")", "") and not self.text.startswith("=>", self.pos):
                self.atom()
            return Str(self.text[start:self.pos].strip())
        if len(parts) > 1:
            return Flags(tuple(p if isinstance(p, str) else repr(p) for p in parts))
        return parts[0]

    def atom(self):
        self._skip()
        ch = self.peek()
        if ch == "{":
            return self.struct()
        if ch == "[":
            self.pos += 1
            items = self.values("]")
            self.take("]")
            return items
        if ch == "(":
            self.pos += 1
            inner = self.values(")")
            self.take(")")
            return inner
        m = _TOKEN.match(self.text, self.pos)
        if not m or m["punct"] and ch in "}]),=":
            raise ValueError_("unexpected text", self.pos)
        self.pos = m.end()
        if m["str"]:
            return Str(m["str"], bool(m["cut"]))
        if m["inv"]:   # ~0: every bit of an unsigned int
            return ~int(m["inv"][1:]) & 0xFFFFFFFF
        if m["num"]:
            value = int(m["num"], 16) if "x" in m["num"] else int(m["num"], 8 if m["num"].startswith("0") and len(m["num"]) > 1 else 10)
            if self.text.startswith("<", self.pos):
                return Fd(value, self._angle())
            return value
        if m["ellipsis"]:
            return ELLIPSIS
        if m["word"]:
            word = m["word"]
            if self.text.startswith("<", self.pos):   # AT_FDCWD</path>
                self._angle()
                return word
            if self.text.startswith("(", self.pos):
                self.pos += 1
                args = self.values(")")
                self.take(")")
                return Form(word, tuple(args))
            return word
        return m.group(0)

    def _angle(self) -> str:
        """The text of a ``<...>`` decoration, nested brackets included."""
        depth = 0
        start = self.pos + 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "<":
                depth += 1
            elif ch == ">" and self.text[self.pos - 1] != "-":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return self.text[start:self.pos - 1]
            self.pos += 1
        raise ValueError_("unclosed '<'", start - 1)

    def struct(self) -> Struct:
        self.take("{")
        out = Struct()
        while self.peek() not in ("}", ""):
            m = _NAMED.match(self.text, self.pos)
            if m:
                self.pos = m.end()
                out.fields[m.group(1)] = self.value()
            else:
                out.items.append(self.value())
            if self.peek() == ",":
                self.pos += 1
        self.take("}")
        return out


def read_args(text: str) -> list:
    """The values of a call's argument text (raises :class:`ValueError_`)."""
    reader = _Reader(text)
    out = reader.values("")
    if reader.pos < len(text.rstrip()):
        raise ValueError_("unexpected text", reader.pos)
    return out


def read_value(text: str):
    """One value (a return value's decoration, a bracketed result)."""
    reader = _Reader(text)
    return reader.value()
