"""Read scores back from an nbgrader gradebook, per exercise, and show them as a table.

Each exercise owns the graded cells whose ``grade_id`` starts with its name (``returns_visible``
and ``returns_hidden`` make the exercise ``returns``). The grading itself is ``autograder.grade``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


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


def read_grade(course_dir: Path, student: str, nb_id: str, status: str = "graded") -> NotebookGrade:
    """Points per exercise of one submitted notebook; zero on every exercise if it was never graded."""
    grade = NotebookGrade(student, nb_id, status=status)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission_notebook(nb_id, nb_id, student)
            cells = [(g.name, float(g.score or 0.0), float(g.max_score)) for g in submission.grades]
        except MissingEntry:  # invalid notebook, or nbgrader failed before recording anything
            cells = [(c.name, 0.0, float(c.max_score)) for c in gb.find_notebook(nb_id, nb_id).grade_cells]
            if status == "graded":
                grade.status = "error"
    for name, score, max_score in sorted(cells):
        ex = exercise_of(name)
        grade.exercises[ex] = round(grade.exercises.get(ex, 0.0) + score, 2)
        grade.max_exercises[ex] = grade.max_exercises.get(ex, 0.0) + max_score
    return grade


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
