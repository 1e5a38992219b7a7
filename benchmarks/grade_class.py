"""Grade a class of N students, each handing in the whole course, with 1 worker and with all cores.

The class is made from the fixture class (reference, blank and typical-mistake notebooks, in
turn). Run by hand on an otherwise idle machine; results are appended to
benchmarks/results/grade_class.md, with where a student's time goes (averaged over the class):
nbgrader's run of the notebooks (kernel starts and nbgrader's own work, the notebooks' first
cells, which import the libraries, and the other cells, in fast mode), scoring, the feedback.

    python benchmarks/grade_class.py --students 50
    python benchmarks/grade_class.py --students 10 --workers 2      # one pass only
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.paths import assignment_ids  # noqa: E402
from autograder.pipeline import Options, grade_class  # noqa: E402
from autograder.sandboxed import launcher as sandbox  # noqa: E402
from fixtures import MISTAKES, build  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "grade_class.md"
PARTS = ("kernels and nbgrader (s)", "first cells: imports (s)", "other cells (s)", "scoring (s)", "feedback (s)")


def _seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        from datetime import datetime

        start, end = (
            datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
            for k in ("iopub.execute_input", "shell.execute_reply")
        )
        return (end - start).total_seconds()
    except (KeyError, ValueError):
        return 0.0


def breakdown(work: Path) -> dict[str, float]:
    """Seconds per student, averaged over the class, for each of ``PARTS`` (a worker's time)."""
    import json

    import nbformat

    totals = dict.fromkeys(PARTS, 0.0)
    students = [d for d in work.iterdir() if (d / "timings.json").exists()]
    for course in students:
        timings = json.loads((course / "timings.json").read_text())
        first = other = 0.0
        for path in course.glob("autograded/*/*/*.ipynb"):
            cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
            first += _seconds(cells[0]) if cells else 0.0
            other += sum(_seconds(c) for c in cells[1:])
        totals["first cells: imports (s)"] += first
        totals["other cells (s)"] += other
        totals["kernels and nbgrader (s)"] += timings.get("execute", 0.0) - first - other
        totals["scoring (s)"] += timings.get("score", 0.0)
        totals["feedback (s)"] += timings.get("feedback", 0.0)
    return {k: v / max(1, len(students)) for k, v in totals.items()}


def make_class(out: Path, students: int) -> Path:
    """``students`` folders, each with every notebook, cycling through reference, blank and mistakes."""
    fixture = build(out / "fixture")
    kinds = ["reference", "blank", *MISTAKES]
    klass = out / "class"
    for i in range(students):
        student = klass / f"s{i:03d}"
        student.mkdir(parents=True)
        for nb in assignment_ids():  # every notebook: from this student's kind where it exists
            source = next(
                fixture / k / f"{nb}.ipynb"
                for k in kinds[i % len(kinds) :] + kinds
                if (fixture / k / f"{nb}.ipynb").exists()
            )
            shutil.copy2(source, student / f"{nb}.ipynb")
    return klass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", help="the passes to run (default: 1 and all cores)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:  # each measurement is written as soon as it is made
        f.write(
            f"\n## {date.today()}: {args.students} students x {len(assignment_ids())} notebooks, {cores} cores, "
            f"sandbox {'on' if sandbox.available() else 'off'}\n\n"
            "| workers | wall time (s) | per student (s) | notebooks graded | "
            + " | ".join(PARTS)
            + " |\n|"
            + "---|" * (4 + len(PARTS))
            + "\n"
        )
    with tempfile.TemporaryDirectory() as tmp:
        klass = make_class(Path(tmp), args.students)
        walls = {}
        for workers in sorted(set(args.workers or {1, cores}), reverse=True):
            start = time.time()
            grades, _ = grade_class(klass, Path(tmp) / f"out{workers}", Options(workers=workers), progress=True)
            walls[workers] = wall = time.time() - start
            print(f"{workers} worker(s): {wall:.0f} s, {wall / args.students:.1f} s per student", flush=True)
            split = breakdown(Path(tmp) / f"out{workers}" / "work")
            with RESULTS.open("a") as f:
                f.write(
                    f"| {workers} | {wall:.0f} | {wall / args.students:.1f} | {len(grades)} | "
                    + " | ".join(f"{split[k]:.1f}" for k in PARTS)
                    + " |\n"
                )
        if 1 in walls and cores in walls and cores > 1:
            with RESULTS.open("a") as f:
                f.write(f"\n{cores} workers grade the class {walls[1] / walls[cores]:.2f}x as fast as 1 worker.\n")
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
