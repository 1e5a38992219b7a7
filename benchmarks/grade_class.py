"""Grade a class of N students, each handing in the whole course, with 1 worker and with all cores.

The class is made from the fixture class (reference, blank and typical-mistake notebooks, in
turn). Run by hand on an otherwise idle machine; results are appended to
benchmarks/results/grade_class.md.

    python benchmarks/grade_class.py --students 50
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
from autograder import sandbox  # noqa: E402
from autograder.fixture_class import MISTAKES, build  # noqa: E402
from autograder.grade import Options, grade_class  # noqa: E402
from autograder.release import assignment_ids  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "grade_class.md"


def make_class(out: Path, students: int) -> Path:
    """``students`` folders, each with every notebook, cycling through reference, blank and mistakes."""
    fixture = build(out / "fixture")
    kinds = ["reference", "blank", *MISTAKES]
    klass = out / "class"
    for i in range(students):
        student = klass / f"s{i:03d}"
        student.mkdir(parents=True)
        for nb in assignment_ids():  # every notebook: from this student's kind where it exists
            source = next((fixture / k / f"{nb}.ipynb" for k in kinds[i % len(kinds):] + kinds
                           if (fixture / k / f"{nb}.ipynb").exists()))
            shutil.copy2(source, student / f"{nb}.ipynb")
    return klass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=50)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:  # each measurement is written as soon as it is made
        f.write(f"\n## {date.today()}: {args.students} students x {len(assignment_ids())} notebooks, {cores} cores, "
                f"sandbox {'on' if sandbox.available() else 'off'}\n\n"
                "| workers | wall time (s) | per student (s) | notebooks graded |\n|---|---|---|---|\n")
    with tempfile.TemporaryDirectory() as tmp:
        klass = make_class(Path(tmp), args.students)
        walls = {}
        for workers in sorted({1, cores}, reverse=True):
            start = time.time()
            grades, _ = grade_class(klass, Path(tmp) / f"out{workers}", Options(workers=workers), progress=True)
            walls[workers] = wall = time.time() - start
            print(f"{workers} worker(s): {wall:.0f} s, {wall / args.students:.1f} s per student", flush=True)
            with RESULTS.open("a") as f:
                f.write(f"| {workers} | {wall:.0f} | {wall / args.students:.1f} | {len(grades)} |\n")
        if len(walls) == 2:
            with RESULTS.open("a") as f:
                f.write(f"\n{cores} workers grade the class {walls[1] / walls[cores]:.2f}x as fast as 1 worker.\n")
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
