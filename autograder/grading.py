"""Grades per exercise from the scorer's points per graded cell, the gradebook's copy of them for
nbgrader's feedback, and the grade table.

Each exercise owns the graded cells whose ``grade_id`` starts with its name (``returns_visible``
and ``returns_hidden`` make the exercise ``returns``). The grading itself is ``autograder.grade``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.release import SOLUTIONS


def exercise_of(grade_id: str) -> str:
    return grade_id.rsplit("_", 1)[0]


@dataclass
class NotebookGrade:
    student: str
    notebook: str
    exercises: dict[str, float] = field(default_factory=dict)
    max_exercises: dict[str, float] = field(default_factory=dict)
    status: str = "graded"
    message: str = ""

    @property
    def total(self) -> float:
        return round(sum(self.exercises.values()), 2)

    @property
    def max_total(self) -> float:
        return round(sum(self.max_exercises.values()), 2)

    @classmethod
    def from_cells(cls, student: str, notebook: str, points: dict[str, float], maxima: dict[str, float],
                   status: str = "graded", message: str = "") -> "NotebookGrade":
        """Points per exercise from points per graded cell (a cell missing from ``points`` scores 0)."""
        grade = cls(student, notebook, status=status, message=message)
        for name in sorted(maxima):
            ex = exercise_of(name)
            grade.exercises[ex] = round(grade.exercises.get(ex, 0.0) + points.get(name, 0.0), 2)
            grade.max_exercises[ex] = grade.max_exercises.get(ex, 0.0) + maxima[name]
        return grade


def max_points(nb_id: str) -> dict[str, float]:
    """Points of every graded cell of a notebook, from its source in ``solutions/``."""
    nb = nbformat.read(SOLUTIONS / f"{nb_id}.ipynb", as_version=4)
    return {meta["grade_id"]: float(meta.get("points", 0)) for meta in
            (c.metadata.get("nbgrader", {}) for c in nb.cells) if meta.get("grade") and meta.get("grade_id")}


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
