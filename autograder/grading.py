"""Grade notebooks with nbgrader's own pipeline and read the scores back from its gradebook.

The course directory is made under ``build/`` from ``solutions/`` (``release.generate``), so the
gradebook always knows the current graded cells, hidden tests included. Each exercise owns the
graded cells whose ``grade_id`` starts with its name (``returns_visible`` and ``returns_hidden``
make the exercise ``returns``).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.release import generate, nbgrader


def exercise_of(grade_id: str) -> str:
    return grade_id.rsplit("_", 1)[0]


@dataclass
class NotebookGrade:
    student: str
    notebook: str
    exercises: dict[str, float] = field(default_factory=dict)
    max_exercises: dict[str, float] = field(default_factory=dict)
    status: str = "graded"

    @property
    def total(self) -> float:
        return round(sum(self.exercises.values()), 2)

    @property
    def max_total(self) -> float:
        return round(sum(self.max_exercises.values()), 2)


def autograde(course_dir: Path, submissions: dict[str, dict[str, Path]]) -> list[NotebookGrade]:
    """Grade ``{student: {notebook_id: path}}``; one ``NotebookGrade`` per student and notebook."""
    notebook_ids = sorted({nb for nbs in submissions.values() for nb in nbs})
    generate(course_dir, notebook_ids)
    grades = []
    for student, notebooks in sorted(submissions.items()):
        for nb_id, path in sorted(notebooks.items()):
            target = course_dir / "submitted" / student / nb_id / f"{nb_id}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            status = "graded"
            try:
                nbgrader(course_dir, "autograde", nb_id, f"--student={student}", "--force")
            except RuntimeError:
                status = "error"
            grades.append(read_grade(course_dir, student, nb_id, status))
    return grades


def read_grade(course_dir: Path, student: str, nb_id: str, status: str = "graded") -> NotebookGrade:
    grade = NotebookGrade(student, nb_id, status=status)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission_notebook(nb_id, nb_id, student)
        except MissingEntry:
            source = gb.find_notebook(nb_id, nb_id)
            for cell in source.grade_cells:
                grade.exercises[exercise_of(cell.name)] = 0.0
                grade.max_exercises[exercise_of(cell.name)] = grade.max_exercises.get(exercise_of(cell.name), 0.0) + cell.max_score
            grade.status = "error" if status == "graded" else status
            return grade
        for g in sorted(submission.grades, key=lambda g: g.name):
            ex = exercise_of(g.name)
            grade.exercises[ex] = round(grade.exercises.get(ex, 0.0) + float(g.score or 0.0), 2)
            grade.max_exercises[ex] = grade.max_exercises.get(ex, 0.0) + float(g.max_score)
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
