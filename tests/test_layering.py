"""The house's walls, read from the source with :mod:`ast`: which package of
tcpconform may import which, that the pure core does no I/O, that no two
modules import each other (even through a function-local import), and that
no module reaches into another's private names.

Each rule is one function that lists the violations it finds, as strings
naming the module and line; ``test_no_violation`` asks for none, and
``test_the_rules_catch_what_they_forbid`` shows each rule failing on a small
tree written to break it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tcpconform"

# package -> the packages its modules may import (a package may always import itself);
# a name missing here (the top-level modules: cli, claims, __main__) may import anything
MAY_IMPORT = {
    "model": {"model"},
    "check": {"model", "check"},
    "live": {"model", "check", "live", "diagrams", "strace"},   # a live run draws what it found
    "strace": {"strace"},                             # reading strace's logs knows nothing of the model
    "properties": {"model", "check", "properties"},
    "diagrams": {"model", "check", "properties", "diagrams"},
}
PURE = ("model", "check", "strace")
IO_MODULES = {"socket", "subprocess", "ctypes", "fcntl", "pyroute2", "multiprocessing"}
TRACEFS = ("tracefs", "/sys/kernel/tracing", "/sys/kernel/debug/tracing")
# private-looking names that are public API (NamedTuple's and the like)
PUBLIC_UNDERSCORED = {"_replace", "_fields", "_asdict", "_make", "_field_defaults"}


# ---------------------------------------------------------------------------
# Reading the tree
# ---------------------------------------------------------------------------

@dataclass
class Module:
    name: str                      # tcpconform.check.trace
    path: Path
    tree: ast.Module
    imports: list = field(default_factory=list)   # (line, module imported, names taken from it or None)

    @property
    def package(self) -> str:
        """``model``, ``check``, ... for a module in a sub-package; ``""`` for a top-level module."""
        parts = self.name.split(".")
        in_sub = len(parts) > 2 or (len(parts) == 2 and self.path.name == "__init__.py")
        return parts[1] if in_sub else ""


def read_tree(root: Path, top: str = "tcpconform") -> dict[str, Module]:
    """Every module below ``root`` (the package directory named ``top``), parsed."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [top, *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    for m in modules.values():
        m.imports = list(_imports(m, modules, top))
    return modules


def _imports(m: Module, modules: dict[str, Module], top: str):
    """(line, module, names) for every import statement of ``m``, at any depth; a
    ``from a import b`` where ``a.b`` is a module of the tree imports ``a.b``."""
    here = m.name if m.path.name == "__init__.py" else m.name.rpartition(".")[0]
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            plain = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield node.lineno, sub, None
                else:
                    plain.append(alias.name)
            if plain:
                yield node.lineno, base, plain


def _is_ours(name: str, top: str = "tcpconform") -> bool:
    return name == top or name.startswith(top + ".")


def _package_of(name: str, modules: dict[str, Module]) -> str:
    m = modules.get(name)
    if m is not None:
        return m.package
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


# ---------------------------------------------------------------------------
# The rules: each lists its violations
# ---------------------------------------------------------------------------

def import_violations(modules: dict[str, Module]) -> list[str]:
    """(a) a module importing from a package its package may not import."""
    out = []
    for m in modules.values():
        allowed = MAY_IMPORT.get(m.package)
        if allowed is None:
            continue
        for line, target, _ in m.imports:
            if not _is_ours(target):
                continue
            pkg = _package_of(target, modules)
            if pkg not in allowed and pkg != m.package:
                out.append(f"{m.name}:{line} imports {target} ({m.package} may not import {pkg or 'top-level modules'})")
    return sorted(out)


def io_violations(modules: dict[str, Module]) -> list[str]:
    """(a) a module of the pure core importing an I/O module or naming tracefs."""
    out = []
    for m in modules.values():
        if m.package not in PURE:
            continue
        for line, target, _ in m.imports:
            if target.split(".")[0] in IO_MODULES:
                out.append(f"{m.name}:{line} imports {target}")
        docstrings = {id(n.body[0].value) for n in ast.walk(m.tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(m.tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and any(t in node.value for t in TRACEFS)):
                out.append(f"{m.name}:{node.lineno} names tracefs ({node.value[:40]!r})")
    return sorted(out)


def cycles(modules: dict[str, Module]) -> list[str]:
    """(b) every set of modules that import each other, directly or in a ring
    (function-local imports count: they run the same module's code)."""
    graph = {name: sorted({t for _, t, _ in m.imports if t in modules and t != name}) for name, m in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(" <-> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) \
        and name not in PUBLIC_UNDERSCORED


def _defined_private(m: Module) -> set[str]:
    """The private names ``m`` defines: functions, classes, assignments (module,
    class or ``self.x = ...``) and parameters."""
    names = set()
    for node in ast.walk(m.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if _private(n)}


def private_violations(modules: dict[str, Module]) -> list[str]:
    """(c) a private name of one tcpconform module used from another: imported
    (``from x import _y``), read off an imported module (``x._y``), or read off
    an object (``obj._y``, obj not ``self``/``cls``/``super()``) when ``_y`` is
    defined in another module of the tree and not in this one."""
    defined = {name: _defined_private(m) for name, m in modules.items()}
    anywhere: dict[str, set[str]] = {}
    for name, names in defined.items():
        for n in names:
            anywhere.setdefault(n, set()).add(name)
    out = []
    for m in modules.values():
        module_names: dict[str, str] = {}    # local name -> tcpconform module it is bound to
        foreign: set[str] = set()            # local names bound by imports from outside tcpconform
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_ours(alias.name):
                        module_names[alias.asname or alias.name] = alias.name
                    else:
                        foreign.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and not _is_ours(node.module or "") and not node.level:
                foreign.update(alias.asname or alias.name for alias in node.names)
        for line, target, names in m.imports:
            if not _is_ours(target):
                continue
            if names is None:   # a submodule taken by a from-import: find the name it is bound to
                continue
            for n in names:
                if _private(n):
                    out.append(f"{m.name}:{line} imports {target}.{n}")
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    base = node.module or ""
                    if f"{base}.{alias.name}" in modules:
                        module_names[alias.asname or alias.name] = f"{base}.{alias.name}"
        for node in ast.walk(m.tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            owner = _dotted(node.value)
            if owner in module_names:
                target = module_names[owner]
                if target != m.name:
                    out.append(f"{m.name}:{node.lineno} uses {target}.{node.attr}")
                continue
            if owner in ("self", "cls") or _is_super(node.value) or node.attr in defined[m.name] \
                    or (owner or "").split(".")[0] in foreign:
                continue
            others = anywhere.get(node.attr, set()) - {m.name}
            if others:
                out.append(f"{m.name}:{node.lineno} uses {owner or 'an object'}.{node.attr} "
                           f"(defined in {', '.join(sorted(others))})")
    return sorted(set(out))


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_super(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("super", "type")


# ---------------------------------------------------------------------------
# The tree as it is
# ---------------------------------------------------------------------------

TREE = read_tree(PACKAGE)

RULES = [("imports", import_violations), ("io", io_violations), ("cycles", cycles),
         ("private", private_violations)]


@pytest.mark.parametrize("rule", [rule for _, rule in RULES], ids=[name for name, _ in RULES])
def test_no_violation(rule):
    assert rule(TREE) == [], rule.__doc__


def test_the_tree_is_read():
    """The rules above see the whole package (an empty reading would pass them all)."""
    assert {"tcpconform.model.rules", "tcpconform.check.search", "tcpconform.live.recorder",
            "tcpconform.properties.prove", "tcpconform.diagrams.render", "tcpconform.cli"} <= set(TREE)
    assert TREE["tcpconform.check.trace"].package == "check" and TREE["tcpconform.cli"].package == ""
    assert any(t == "tcpconform.model.system" for _, t, _ in TREE["tcpconform.check.search"].imports)


# ---------------------------------------------------------------------------
# The rules fail where they should
# ---------------------------------------------------------------------------

BROKEN = {
    "model/__init__.py": "",
    "model/rules.py": "import socket\nfrom tcpconform.check import trace\n",
    "model/vocab.py": "def _hidden():\n    pass\nclass T:\n    def _m(self):\n        return self._m\n",
    "check/__init__.py": "",
    "check/trace.py": "from tcpconform.model.vocab import _hidden\n"
                      "def f(x):\n    from tcpconform.check import search\n    return x._m\n",
    "check/search.py": "from tcpconform.check import trace\nfrom tcpconform.model import vocab\n"
                       "MOUNT = '/sys/kernel/tracing'\nvocab._hidden()\n",
    "live/__init__.py": "",
    "live/run.py": "from tcpconform.diagrams import render\n",
    "diagrams/__init__.py": "",
    "diagrams/render.py": "from tcpconform.live import run\nfrom tcpconform.properties import prove\n",
    "cli.py": "from tcpconform.live import run\nfrom tcpconform.diagrams import render\n",
}


def test_the_rules_catch_what_they_forbid(tmp_path):
    root = tmp_path / "tcpconform"
    for rel, text in BROKEN.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "__init__.py").write_text("")
    tree = read_tree(root)
    assert import_violations(tree) == [
        "tcpconform.diagrams.render:1 imports tcpconform.live.run (diagrams may not import live)",
        "tcpconform.model.rules:2 imports tcpconform.check.trace (model may not import check)",
    ]
    assert io_violations(tree) == [
        "tcpconform.check.search:3 names tracefs ('/sys/kernel/tracing')",
        "tcpconform.model.rules:1 imports socket",
    ]
    assert cycles(tree) == [
        "tcpconform.check.search <-> tcpconform.check.trace",
        "tcpconform.diagrams.render <-> tcpconform.live.run",
    ]
    assert private_violations(tree) == [
        "tcpconform.check.search:4 uses tcpconform.model.vocab._hidden",
        "tcpconform.check.trace:1 imports tcpconform.model.vocab._hidden",
        "tcpconform.check.trace:4 uses x._m (defined in tcpconform.model.vocab)",
    ]
