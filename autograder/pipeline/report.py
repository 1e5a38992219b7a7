"""Step 4 of the pipeline, report: grades per exercise from the scorer's points, grades.csv, the
gradebook's copy of the points, and the feedback pages.

A notebook's grade is the scorer's points per graded cell, summed per exercise (``cells.exercise_of``).
nbgrader makes the feedback from the autograded notebook: the kernel's outputs of the graded cells
are replaced by the scorer's, and the scorer's points written into the gradebook first, so the page
shows what was scored; hidden-test blocks are stripped from test cells only
(``autograder.nbgrader_process.feedback``). ``grades.csv`` has one row per student and notebook,
written atomically after each student.
"""

from __future__ import annotations

import csv
import html
import json
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.cells import exercise_of, grade_id_of, graded_points, is_hidden_check
from autograder.nbgrader_cli import nbgrader
from autograder.paths import SOLUTIONS, course_env
from autograder.pipeline import statuses
from autograder.pipeline.collect import Submission
from autograder.pipeline.execute import nbgrader_error
from autograder.pipeline.files import UnsafeFile, read_bytes, read_notebook, write_atomic
from autograder.pipeline.job import Job
from autograder.pipeline.scoring import CellScore, NotebookScore
from autograder.pipeline.spreadsheets import original, write_table

MAX_FEEDBACK_BYTES = 256 * 1024**2  # a feedback page (its notebook's outputs are bounded: execute.py)
GRADES_FIXED = ["student", "notebook", "status", "total", "max_total"]


@dataclass
class NotebookGrade:
    student: str
    notebook: str
    exercises: dict[str, float] = field(default_factory=dict)
    max_exercises: dict[str, float] = field(default_factory=dict)
    status: statuses.Status = statuses.GRADED
    message: str = ""
    scored: dict[str, CellScore] = field(default_factory=dict)  # the scorer's cells (not in grades.csv)
    out_of_memory: bool = False  # the grading machine's memory limit killed a process meanwhile (oom.py)
    repaired: bool = False  # its grading metadata was repaired (cells restored, re-added, unclaimed)
    input_cut: bool = False  # part of it was past the grader's limits and left out
    lost: list[str] = field(
        default_factory=list
    )  # the message's last lines: what each exercise lost, and to which check
    about_run: str = ""  # the message's first lines, before ``lost``: how the run went
    seconds: float = 0.0  # its grading's share of the student's time (its scoring, and an even share of the rest)

    @property
    def total(self) -> float:
        return round(sum(self.exercises.values()), 2)

    @property
    def max_total(self) -> float:
        return round(sum(self.max_exercises.values()), 2)

    @classmethod
    def from_cells(
        cls,
        student: str,
        notebook: str,
        points: dict[str, float],
        maxima: dict[str, float],
        status: statuses.Status = statuses.GRADED,
        message: str = "",
    ) -> NotebookGrade:
        """Points per exercise from points per graded cell (a cell missing from ``points`` scores 0)."""
        grade = cls(student, notebook, status=status, message=message, about_run=message)
        for name in sorted(maxima):
            ex = exercise_of(name)
            grade.exercises[ex] = round(grade.exercises.get(ex, 0.0) + points.get(name, 0.0), 2)
            grade.max_exercises[ex] = grade.max_exercises.get(ex, 0.0) + maxima[name]
        return grade


def max_points(nb_id: str) -> dict[str, float]:
    """Points of every graded cell of a notebook, from its source in ``solutions/``."""
    return graded_points(nbformat.read(SOLUTIONS / f"{nb_id}.ipynb", as_version=4))


def record_scores(course_dir: Path, student: str, nb_id: str, points: dict[str, float]) -> None:
    """Write the scorer's points into nbgrader's gradebook, so that its feedback shows them.

    Every graded cell gets a score: a cell the scorer did not score gets 0, never the points
    that nbgrader worked out from the kernel's outputs.
    """
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission_notebook(nb_id, nb_id, student)
        except MissingEntry:  # nbgrader recorded nothing (it failed): no feedback page to fix
            return
        for grade in submission.grades:
            grade.auto_score = points.get(grade.name, 0.0)
            grade.manual_score = None
            grade.needs_manual_grade = False
        gb.db.commit()


def lost_points(cells: dict[str, CellScore], maxima: dict[str, float]) -> list[str]:
    """For each exercise that lost points, one line: what it got, and the first check that failed
    ('returns 1.33/5: hidden check "an episode ends mid-batch" failed first')."""
    lines = []
    for exercise in sorted({exercise_of(gid) for gid in maxima}):
        own = sorted(gid for gid in maxima if exercise_of(gid) == exercise)
        earned = sum(cells[gid].points for gid in own if gid in cells)
        most = sum(maxima[gid] for gid in own)
        if earned >= most:
            continue
        failures = [(gid, cells[gid].failed) for gid in own if gid in cells and cells[gid].failed]
        hidden = [f for gid, f in failures if is_hidden_check(gid)]
        visible = [f for gid, f in failures if not is_hidden_check(gid)]
        why = (
            f'hidden check "{hidden[0]}" failed first'
            if hidden
            else f"sanity check failed: {visible[0][:120]}"
            if visible
            else "not scored"
        )
        lines.append(f"{exercise} {round(earned, 2):g}/{most:g}: {why}")
    return lines


def grade_of(
    job: Job, sub: Submission, run: tuple[statuses.Status, str], scores: dict[str, NotebookScore]
) -> NotebookGrade:
    """A notebook's grade from the scorer's points; the autograded notebook and the gradebook get
    the scorer's outputs and points, for the feedback. ``run``: the execute step's (status, message)."""
    grade = _grade_of(job, sub, run, scores)
    grade.repaired, grade.input_cut = sub.repaired, sub.cut
    return grade


def _grade_of(
    job: Job, sub: Submission, run: tuple[statuses.Status, str], scores: dict[str, NotebookScore]
) -> NotebookGrade:
    status, message = run
    maxima = max_points(sub.notebook)
    score = scores.get(sub.notebook)
    if sub.status != statuses.GRADED:
        return NotebookGrade.from_cells(sub.student, sub.notebook, {}, maxima, status, message)
    if not score:
        return NotebookGrade.from_cells(
            sub.student,
            sub.notebook,
            {},
            maxima,
            statuses.ERROR,
            "; ".join(
                filter(
                    None, [message, "scoring failed: every cell scores 0 (the grader's log: work/<student>/score.log)"]
                )
            ),
        )
    cells = {gid: c.points for gid, c in score.cells.items() if gid in maxima}
    problems = [f"{gid}: {c.problem}" for gid, c in score.cells.items() if c.problem]
    lost = lost_points(score.cells, maxima)
    about_run = "; ".join(filter(None, [message, *score.notes, *problems]))
    message = "; ".join(filter(None, [about_run, *lost]))
    autograded = job.autograded(sub.notebook)
    nb = read_notebook(autograded)  # None: no run to show (nbgrader failed)
    if nb is not None:
        for cell in nb.cells:
            gid = grade_id_of(cell)
            if gid in score.cells and cell.cell_type == "code":
                cell.outputs = [nbformat.from_dict(o) for o in score.cells[gid].outputs]
        write_atomic(autograded, nbformat.writes(nb))  # nbgrader left it read-only: replaced, not opened
        record_scores(job.course, sub.student, sub.notebook, cells)
    grade = NotebookGrade.from_cells(sub.student, sub.notebook, cells, maxima, status, message)
    grade.scored, grade.seconds, grade.lost, grade.about_run = score.cells, score.seconds, lost, about_run
    return grade


def write_feedback(job: Job, grades: list[NotebookGrade], folder: Path) -> None:
    """One nbgrader generate_feedback for all of a student's autograded notebooks (one process start
    instead of one per notebook), then a status banner on top, or a plain page where nbgrader had
    nothing to show (and why), into ``folder/<student>/<notebook>.html``."""
    course, student = job.course, job.student
    why = ""  # why nbgrader made no page, when its run failed
    if (course / "autograded" / student).is_dir() and any((course / "autograded" / student).iterdir()):
        try:
            proc = nbgrader(
                course,
                "generate_feedback",
                "*",
                f"--student={student}",
                "--force",
                env=course_env(),
                timeout=job.options.notebook_timeout,
                check=False,
            )
            if proc.returncode != 0:
                (course / "feedback.log").write_text(proc.stdout[-200_000:])  # for the instructor
                why = nbgrader_error(proc.stdout, doing="make the feedback of this notebook")
        except subprocess.TimeoutExpired:
            why = f"nbgrader's feedback did not finish in {job.options.notebook_timeout} s"
    for grade in grades:
        out = folder / grade.student / f"{grade.notebook}.html"
        made = course / "feedback" / grade.student / grade.notebook / f"{grade.notebook}.html"
        try:
            text = read_bytes(made, MAX_FEEDBACK_BYTES).decode("utf-8", "replace")
        except UnsafeFile:
            text = None
        if text is not None:
            if grade.message:
                banner = (
                    f'<div style="background:#fff3cd;padding:1em"><b>{html.escape(grade.status)}</b>: '
                    f"{html.escape(grade.message)}</div>"
                )
                text = text.replace("<body>", "<body>" + banner, 1)
            write_atomic(out, text)
        else:
            ran = job.autograded(grade.notebook).exists()
            reason = why or (
                f"nbgrader made none (its page would pass {MAX_FEEDBACK_BYTES // 1024**2} MB, or it failed: "
                "the instructor's log)"
                if ran
                else "nbgrader had no run of this notebook to show"
            )
            write_atomic(
                out,
                f"<html><body><h1>{html.escape(grade.notebook)}: {html.escape(grade.status)}</h1>"
                f"<p>{html.escape(grade.message or 'no feedback')}</p>"
                f"<p>No feedback page: {html.escape(reason)}.</p>"
                f"<p>Points: {grade.total:g} / {grade.max_total:g}</p></body></html>",
            )


# --------------------------------------------------------------------------- grades.csv
def read_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of ``out/grades.csv`` by (student, notebook); none when there is no such file."""
    path = out / "grades.csv"
    return {(r["student"], r["notebook"]): r for r in csv.DictReader(path.open())} if path.exists() else {}


def read_unmapped(out: Path) -> list[tuple[str, str]]:
    """``out/unmapped.csv``'s (file, why), as the run had them (``spreadsheets.original``); none when
    there is no such file."""
    path = out / "unmapped.csv"
    rows = list(csv.reader(path.open()))[1:] if path.exists() else []
    return [(original(r[0]), original(r[1])) for r in rows if len(r) >= 2]


def write_rows(rows: dict[tuple[str, str], dict[str, str]], unmapped: list[tuple[str, str]], out: Path) -> None:
    """``grades.csv`` (a row per student and notebook, sorted; the exercise columns sorted by name)
    and ``unmapped.csv``, each written whole or not at all."""
    exercises = sorted({k for r in rows.values() for k in r if k not in GRADES_FIXED + ["message"]})
    header = [*GRADES_FIXED, *exercises, "message"]
    # each written whole (a kill mid-write keeps the previous file), every cell safe in a spreadsheet
    write_table(out / "grades.csv", header, ([rows[key].get(k, "") for k in header] for key in sorted(rows)))
    write_table(out / "unmapped.csv", ["file", "reason"], sorted(set(map(tuple, unmapped))))


def write_csv(grades: list[NotebookGrade], unmapped: list[tuple[str, str]], out: Path) -> None:
    """Write grades.csv: these rows replace earlier rows of the same student and notebook, rows of
    students not graded in this run stay (a partial re-run loses nobody's grade)."""
    rows = read_rows(out)
    for g in grades:
        rows[g.student, g.notebook] = {
            "student": g.student,
            "notebook": g.notebook,
            "status": g.status,
            "total": f"{g.total:g}",
            "max_total": f"{g.max_total:g}",
            "message": g.message,
            **{ex: f"{points:g}" for ex, points in g.exercises.items()},
        }
    write_rows(rows, unmapped, out)


def table(grades: list[NotebookGrade]) -> str:
    """A plain-text table: one row per student and notebook, a column per exercise."""
    rows = [["student", "notebook", "exercises", "total", "status"]]
    for g in grades:
        exercises = "  ".join(f"{ex} {score:g}/{g.max_exercises[ex]:g}" for ex, score in g.exercises.items())
        rows.append([g.student, g.notebook, exercises, f"{g.total:g}/{g.max_total:g}", g.status])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- details/<student>.json
DETAILS = "details"  # the results folder's per-student records, what the class report reads


def details_of(grade: NotebookGrade) -> dict:
    """What the class report needs of a notebook's grading, beyond grades.csv: how each graded cell
    scored and which check failed first, the flags that call for a human, and its time."""
    return {
        "max_exercises": grade.max_exercises,
        "repaired": grade.repaired,
        "input_cut": grade.input_cut,
        "out_of_memory": grade.out_of_memory,
        "seconds": grade.seconds,
        "cells": {
            gid: {"points": c.points, "max_points": c.max_points, "failed": c.failed, "said": c.said}
            for gid, c in sorted(grade.scored.items())
        },
    }


def write_details(grades: list[NotebookGrade], out: Path) -> None:
    """``out/details/<student>.json``, one record per notebook, beside the student's rows of
    grades.csv; a re-run replaces the records of the notebooks it graded and keeps the others."""
    for student in sorted({g.student for g in grades}):
        path = out / DETAILS / f"{student}.json"
        records = read_details_file(path)
        records.update({g.notebook: details_of(g) for g in grades if g.student == student})
        write_atomic(path, json.dumps(records, sort_keys=True, indent=1))


def read_details_file(path: Path) -> dict[str, dict]:
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


RUN = "run.json"  # how the run went: when, how long, in which sandbox (a merge lists its shards')


def write_run(
    out: Path, started: float, mode: str | None, workers: int, shard: tuple[int, int] | None, students: int
) -> None:
    """``out/run.json``: this run's start, wall time, sandbox mode, workers, shard and students."""
    run = {
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "sandbox": mode or "off",
        "workers": workers,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "students": students,
    }
    write_runs(out, [run])


def write_runs(out: Path, runs: list[dict]) -> None:
    """``out/run.json``: the runs that made the results (one; a merge's, one per shard)."""
    write_atomic(out / RUN, json.dumps({"runs": runs}, indent=1))


def read_runs(out: Path) -> list[dict]:
    try:
        runs = json.loads((out / RUN).read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [r for r in runs if isinstance(r, dict)]
