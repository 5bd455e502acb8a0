"""The recorded scenario traces kept in the repository, one folder per kernel.

``evidence/traces/linux-<major>.<minor>/`` holds one trace per scenario of
:data:`tcpconform.live.scenarios.SCENARIOS`, recorded on that kernel with the
observers on, so that what reads them (the rule table's mutation adequacy,
:mod:`tcpconform.properties.adequacy`) runs without root.  :func:`refresh`
records every scenario again and replaces the folder's traces (``conform
mutants --record``).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

from tcpconform.live.run import RunReport, run_scenarios
from tcpconform.live.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2] / "evidence" / "traces"


def kernel_folder(release: str | None = None) -> Path:
    """The folder for this kernel (or ``release``): ``linux-<major>.<minor>``."""
    release = release or platform.release()
    return ROOT / ("linux-" + ".".join(release.split("-", 1)[0].split(".")[:2]))


def refresh(folder: Path | None = None, jobs: int | None = None) -> tuple[Path, RunReport]:
    """Record every scenario into a fresh folder, then put its traces in
    place of ``folder``'s (default: this kernel's); the run's report.  Nothing
    is replaced unless every scenario was recorded (and conforms or not: a
    divergence is kept, the report says so)."""
    folder = Path(folder) if folder is not None else kernel_folder()
    with tempfile.TemporaryDirectory(prefix="conform-traces-") as tmp:
        report = run_scenarios(list(SCENARIOS), tmp, jobs=jobs)
        if report.status == 2:
            return folder, report
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jsonl"):
            old.unlink()
        for name in os.listdir(tmp):
            if name.endswith(".jsonl"):
                shutil.copyfile(os.path.join(tmp, name), folder / name)
    return folder, report
