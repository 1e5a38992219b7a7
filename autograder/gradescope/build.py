"""Write Gradescope's autograder zip of a notebook: setup.sh, run_autograder, and the course."""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.paths import ROOT, assignment_ids

# What the zip carries of this repository (extracted by Gradescope into /autograder/source).
PARTS = ("autograder", "course_lib", "solutions", "notebooks", "pyproject.toml", "README.md")
SKIP = ("__pycache__", ".pyc", ".ipynb_checkpoints")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-dev build-essential bubblewrap util-linux ffmpeg >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
# torch first, pinned: the CPU build (an unpinned torch pulls gigabytes of CUDA packages).
/autograder/venv/bin/pip install --quiet torch=={torch} --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install --quiet -e "/autograder/source[instructor]"
cd /autograder/source && PYTHONPATH=/autograder/source /autograder/venv/bin/python -m autograder.gradescope prepare
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission, write /autograder/results/results.json.
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
cd "$ROOT/source"
PYTHONPATH="$ROOT/source" exec "${{COURSE_PYTHON:-/autograder/venv/bin/python}}" -m autograder.gradescope run \\
    --notebook {notebook} --root "$ROOT" --sandbox "${{COURSE_SANDBOX:-auto}}"
"""

TORCH = "2.13.0"


def build(out: Path, notebooks: list[str] | None = None) -> list[Path]:
    """One zip per notebook in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for notebook in notebooks or assignment_ids():
        if notebook not in assignment_ids():
            raise SystemExit(f"no notebook {notebook!r}: there are {', '.join(assignment_ids())}")
        path = out / f"{notebook}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            _script(z, "setup.sh", SETUP.format(torch=TORCH))
            _script(z, "run_autograder", RUN.format(notebook=notebook))
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
