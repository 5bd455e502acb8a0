"""The package as a user installs it: a wheel built from the sources, put
into a fresh virtual environment, ``conform prove`` run from there.

The proofs' certificates and stored runs must ship inside the wheel (else
every proof falls back to Spacer, minutes instead of seconds), and nothing
may be written into the installed package: a certificate that is found
again goes into the user's cache folder and is read from there next time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import proved

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel of the sources installed into a fresh venv: its paths."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tcpconform", src / "tcpconform",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp"))
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(src)])
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (base / "dist").glob("*.whl")
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    put = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)])
    assert put.returncode == 0, put.stderr[-2000:]
    (site,) = (venv / "lib").glob("python*/site-packages")
    home = base / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return {"conform": str(venv / "bin" / "conform"), "package": site / "tcpconform", "home": home, "env": env}


def _files(package: Path) -> dict:
    return {str(p.relative_to(package)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"}


def _prove(inst: dict, *names: str) -> dict:
    r = _run([inst["conform"], "prove", *names, "--json"], cwd=inst["home"], env=inst["env"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(r.stdout)


def test_the_wheel_carries_the_proofs(installed) -> None:
    """Every property proven from its shipped certificate, every witness from
    its shipped run (or recorded search), and the package left as installed."""
    pkg = installed["package"]
    assert list((pkg / "properties" / "certificates").glob("*.smt2")), "no certificates in the wheel"
    assert list((pkg / "properties" / "runs").glob("*.json")), "no stored runs in the wheel"
    before = _files(pkg)
    out = _prove(installed)
    assert proved(out, "property") and proved(out, "witness")
    for p in proved(out, "property"):
        assert p["verdict"] == "proven", p
        assert p["method"] in ("certificate", "z3, every endpoint"), (p["property"], p["method"])
    for w in proved(out, "witness"):
        assert w["method"].startswith(("stored run", "z3 model", "bmc (depth")), (w["witness"], w["method"])
        assert "recorded search" in w["method"] or not w["method"].startswith("bmc"), w
    assert _files(pkg) == before, "conform prove wrote into the installed package"


def test_a_certificate_found_again_goes_to_the_user_cache(installed) -> None:
    """With a shipped certificate gone, Spacer finds the invariant again; it is
    written to the user's cache folder, not the package, and read from there."""
    pkg = installed["package"]
    name = "listener_carries_no_data"
    shipped = pkg / "properties" / "certificates" / f"{name}.smt2"
    shipped.unlink()
    before = _files(pkg)
    (row,) = proved(_prove(installed, name), "property")
    assert row["verdict"] == "proven" and row["method"] == "spacer", row
    cached = list((installed["home"] / ".cache" / "tcp-conform").rglob(f"{name}.smt2"))
    assert len(cached) == 1, "the new certificate is not in the user's cache folder"
    assert _files(pkg) == before, "conform prove wrote into the installed package"
    (again,) = proved(_prove(installed, name), "property")
    assert again["method"] == "certificate", again
