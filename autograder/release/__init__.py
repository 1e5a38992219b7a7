"""Generate the student notebooks in ``notebooks/`` from the one source in ``solutions/``.

This is nbgrader's own ``generate_assignment`` step (it clears the solutions between
``### BEGIN SOLUTION``/``### END SOLUTION``, strips the hidden tests, locks and checksums the
graded cells), run in a throw-away course directory so the repository keeps one copy of each
notebook. ``--check`` regenerates into a temporary folder and fails when ``notebooks/`` is stale.

    python -m autograder.release           # regenerate notebooks/
    python -m autograder.release --check   # exit 1 if notebooks/ differs from a fresh release
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from ipykernel.ipkernel import IPythonKernel
from jupyter_client.kernelspec import KernelSpecManager

from autograder.nbgrader_cli import nbgrader
from autograder.paths import CONFIG, NOTEBOOKS, ROOT, SOLUTIONS, assignment_ids


def generate(course_dir: Path, ids: list[str] | None = None) -> dict[str, Path]:
    """Copy each solution into ``course_dir/source`` and release it; return the released notebooks."""
    released = {}
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CONFIG, course_dir / "nbgrader_config.py")  # nbgrader reads its config from the course folder
    for aid in ids or assignment_ids():
        src = course_dir / "source" / aid
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOLUTIONS / f"{aid}.ipynb", src / f"{aid}.ipynb")
        nbgrader(course_dir, "generate_assignment", aid, "--force")
        released[aid] = course_dir / "release" / aid / f"{aid}.ipynb"
    return released


def kernel_metadata() -> dict:
    """The metadata JupyterLab writes when the course's kernel starts: a notebook that already holds
    it is not marked modified when a student merely opens it (JupyterLab compares it exactly, the
    Python version included: that of the course's environment)."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    return {
        "kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": "python3"},
        "language_info": dict(IPythonKernel.language_info),
    }


def normalized(path: Path) -> str:
    """Notebook text as committed: no outputs, no execution counts, the kernel's own metadata,
    stable formatting."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.update(kernel_metadata())
    return nbformat.writes(nb) + "\n"


def _without_python_version(text: str) -> str:
    """Notebook text with language_info's version removed: a notebook released with another patch
    release of Python is not stale."""
    nb = nbformat.reads(text, as_version=4)
    nb.metadata.get("language_info", {}).pop("version", None)
    return nbformat.writes(nb)


def release(out_dir: Path = NOTEBOOKS) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for aid, path in generate(Path(tmp)).items():
            target = out_dir / f"{aid}.ipynb"
            target.write_text(normalized(path))
            written.append(target)
    return written


def stale(out_dir: Path = NOTEBOOKS) -> list[str]:
    """Names of student notebooks that are missing, outdated, or have no source any more."""
    with tempfile.TemporaryDirectory() as tmp:
        return differences(release(Path(tmp)), out_dir)


def differences(fresh: list[Path], out_dir: Path) -> list[str]:
    """The notebooks of ``out_dir`` that differ from the ``fresh`` release (or are missing from it),
    and those of ``fresh`` that ``out_dir`` lacks."""
    problems = [
        p.name
        for p in fresh
        if not (out_dir / p.name).exists()
        or _without_python_version((out_dir / p.name).read_text()) != _without_python_version(p.read_text())
    ]
    expected = {p.name for p in fresh}
    return problems + [p.name for p in out_dir.glob("*.ipynb") if p.name not in expected]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        if problems:
            print("notebooks/ is stale, run `python -m autograder.release`:", ", ".join(problems))
            return 1
        print("notebooks/ is up to date")
        return 0
    for path in release():
        print("wrote", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
