"""Write Gradescope's autograder zip of a notebook: setup.sh, run_autograder, and the course."""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.gradescope.run import HIDDEN_CHECKS, Visibility
from autograder.paths import ROOT, assignment_ids

# What the zip carries of this repository (extracted by Gradescope into /autograder/source).
PARTS = ("autograder", "course_lib", "solutions", "notebooks", "pyproject.toml", "requirements-torch.txt", "README.md")
SKIP = ("__pycache__", ".pyc", ".ipynb_checkpoints")

# The container each notebook's assignment needs on Gradescope (its autograder settings), measured:
# every notebook's reference and a typical mistake graded within it, under a memory and CPU cgroup
# of that size (tests/integration/test_gradescope.py). Gradescope's default is 768 MB and half a CPU;
# notebook 3's kernel, its fork server and two Hogwild workers need more (780 MiB at its peak).
DEFAULT_CONTAINER = ("768M", 0.5)
CONTAINERS = {"03_a3c": ("1.5G", 1.0)}


def container(notebook: str) -> tuple[str, float]:
    """(memory, CPUs) to choose in the Gradescope assignment's autograder settings for ``notebook``."""
    return CONTAINERS.get(notebook, DEFAULT_CONTAINER)


NOTE = """Gradescope autograder for {notebook}.ipynb (made by `make gradescope`).

Upload this zip as the autograder of a programming assignment, base image Ubuntu 22.04, and in the
assignment's autograder settings choose at least {memory}B of memory and {cpus:g} CPU (measured: the
reference and a typical mistake are graded within that, under a cgroup of that size), and an
autograder timeout of 25 minutes. Students see the sanity checks at once and the hidden checks
{hidden_checks} (make gradescope GRADESCOPE_ARGS="--hidden-checks visible" to change it).
This zip holds the solutions and the hidden checks: keep it with the instructors.
"""

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-dev build-essential bubblewrap util-linux ffmpeg >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
# torch first, at the course's pin: the CPU build from PyTorch's index where it answers (an extra index:
# its +cpu build wins); else pip's own index (Linux's torch there brings gigabytes of CUDA packages, but runs).
CPU_INDEX=https://download.pytorch.org/whl/cpu
if /autograder/venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" "$CPU_INDEX" 2>/dev/null; then
    /autograder/venv/bin/pip install --quiet -r /autograder/source/requirements-torch.txt --extra-index-url "$CPU_INDEX"
else
    echo "setup.sh: $CPU_INDEX does not answer: torch from pip's own index" >&2
    /autograder/venv/bin/pip install --quiet -r /autograder/source/requirements-torch.txt
fi
/autograder/venv/bin/pip install --quiet -e "/autograder/source[instructor]"
cd /autograder/source && PYTHONPATH=/autograder/source /autograder/venv/bin/python -m autograder.gradescope prepare
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission, write /autograder/results/results.json.
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
cd "$ROOT/source"
PYTHONPATH="$ROOT/source" exec "${{COURSE_PYTHON:-/autograder/venv/bin/python}}" -m autograder.gradescope run \\
    --notebook {notebook} --root "$ROOT" --sandbox "${{COURSE_SANDBOX:-auto}}" --hidden-checks {hidden_checks}
"""


def build(out: Path, notebooks: list[str] | None = None, hidden_checks: Visibility = HIDDEN_CHECKS) -> list[Path]:
    """One zip per notebook in ``out``, whose runs show the hidden checks' tests to students as
    ``hidden_checks`` says; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for notebook in notebooks or assignment_ids():
        if notebook not in assignment_ids():
            raise SystemExit(f"no notebook {notebook!r}: there are {', '.join(assignment_ids())}")
        path = out / f"{notebook}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            _script(z, "setup.sh", SETUP)
            _script(z, "run_autograder", RUN.format(notebook=notebook, hidden_checks=hidden_checks.value))
            memory, cpus = container(notebook)
            when = {"visible": "at once", "hidden": "never", "after_due_date": "after the due date"}
            z.writestr(
                "GRADESCOPE.txt",
                NOTE.format(
                    notebook=notebook,
                    memory=memory,
                    cpus=cpus,
                    hidden_checks=when.get(hidden_checks.value, "once the grades are published"),
                ),
            )
            for part in PARTS:
                source = ROOT / part
                files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
                for file in files:
                    if not any(s in str(file) for s in SKIP):
                        z.write(file, str(file.relative_to(ROOT)))
        written.append(path)
    return written


def _script(z: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16  # executable once extracted
    z.writestr(info, text)
