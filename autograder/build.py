"""The course's main job (``make course``): release, run every notebook, grade, report.

1. regenerate the student notebooks in ``notebooks/`` from ``solutions/`` (nbgrader);
2. execute every solution notebook in fast mode into ``build/executed/`` (executed copy, HTML
   export with its plots and embedded videos);
3. grade the reference solutions and the blank student notebooks with the class grading command
   (``autograder.pipeline``: nbgrader's autograde, sandboxed when bubblewrap is there);
4. print a grade table: the reference must get full marks, the blank copy zero on every exercise.

Exit status 1 when a notebook fails to run or a grade is not what it must be.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from autograder.cells import grade_id_of, is_hidden_test_cell, points_of
from autograder.paths import NOTEBOOKS, ROOT, SOLUTIONS, assignment_ids, course_env
from autograder.pipeline import Options, grade_class
from autograder.pipeline.report import table
from autograder.release import release

BUILD = ROOT / "build"


def execute(notebook: Path, out_dir: Path, timeout: int = 600) -> Path:
    """Run a notebook top to bottom in fast mode; write the executed copy and its HTML export."""
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(out_dir)}}).execute()
    out = out_dir / notebook.name
    nbformat.write(nb, out)
    html, _ = HTMLExporter().from_notebook_node(nb)
    out.with_suffix(".html").write_text(html)
    return out


def hidden_failures(executed: Path) -> list[str]:
    """What went wrong in the hidden checks of an executed solution notebook (they must all pass
    there, as in the grader): an error, a FAIL line, or fewer points than the cell's."""
    problems = []
    for cell in nbformat.read(executed, as_version=4).cells:
        if not is_hidden_test_cell(cell):
            continue
        name = grade_id_of(cell)
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        result = [
            o["data"].get("text/plain", "") for o in cell.get("outputs", []) if o.get("output_type") == "execute_result"
        ]
        errors = [f"{o['ename']}: {o['evalue']}" for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        problems += [f"{name}: {e}" for e in errors]
        problems += [f"{name}: {line.strip()}" for line in text.splitlines() if line.strip().startswith("FAIL")]
        if not errors and (not result or float(result[0]) != points_of(cell)):
            problems.append(f"{name}: scored {result[0] if result else 'nothing'}, not {points_of(cell):g}")
    return problems


def main() -> int:
    os.environ.update(course_env(COURSE_FAST="1"))
    for path in release():
        print("released", path.relative_to(ROOT))

    ok = True
    for aid in assignment_ids():
        start = time.time()
        try:
            out = execute(SOLUTIONS / f"{aid}.ipynb", BUILD / "executed")
            print(f"executed {aid} in {time.time() - start:.0f} s -> {out.relative_to(ROOT)} (+ .html)")
            for problem in hidden_failures(out):
                ok = False
                print(f"FAILED hidden check in the executed solution {aid}: {problem}")
        except Exception as exc:  # report every notebook, then fail
            ok = False
            print(f"FAILED to execute {aid}: {type(exc).__name__}: {str(exc)[-2000:]}")

    # The class: a "reference" student who hands in the solutions, a "blank" one who hands in
    # the untouched student notebooks; graded like any class, in BUILD/grades.
    submissions = BUILD / "class"
    shutil.rmtree(submissions, ignore_errors=True)
    for student, folder in [("reference", SOLUTIONS), ("blank", NOTEBOOKS)]:
        (submissions / student).mkdir(parents=True)
        for aid in assignment_ids():
            shutil.copy2(folder / f"{aid}.ipynb", submissions / student / f"{aid}.ipynb")
    grades, _ = grade_class(submissions, BUILD / "grades", Options(), progress=False)  # and its class report
    print()
    print(table(grades))
    for g in grades:
        expected_ok = (
            (g.total == g.max_total) if g.student == "reference" else all(v == 0 for v in g.exercises.values())
        )
        if not expected_ok or g.status != "graded":
            ok = False
            print(f"UNEXPECTED: {g.student} got {g.total:g}/{g.max_total:g} on {g.notebook} ({g.status})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
