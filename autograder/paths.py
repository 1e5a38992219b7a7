"""Where the course's sources are, which notebooks it has, and the environment its tools run in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"  # the one source: reference solutions, nbgrader metadata, hidden-test blocks
NOTEBOOKS = ROOT / "notebooks"  # the student notebooks, generated from SOLUTIONS
CONFIG = ROOT / "autograder" / "nbgrader_process" / "nbgrader_config.py"


def assignment_ids() -> list[str]:
    """Each solution notebook is one nbgrader assignment named after the file (``01_policy_gradient``)."""
    return sorted(p.stem for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def course_env(**extra: str) -> dict[str, str]:
    """Environment for nbgrader and its kernels: the course's packages importable, this venv's tools on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, **extra}
