"""nbgrader's cell metadata, read in one place (as ``nbgrader.utils`` reads it: importing nbgrader
costs a process about a second, which the scorer, started once per student, does not pay).

An *answer* cell is nbgrader's solution cell (what the student writes); a *test* cell a graded cell
that is not a solution (a visible check, or a hidden one whose block the student never sees).
Each exercise owns the graded cells whose grade id starts with its name (``returns_visible`` and
``returns_hidden`` make the exercise ``returns``).
"""

from __future__ import annotations


def is_grade(cell) -> bool:
    """A graded cell (nbgrader's ``is_grade``)."""
    return bool(nbgrader_meta(cell).get("grade", False))


def is_solution(cell) -> bool:
    """A solution cell (nbgrader's ``is_solution``)."""
    return bool(nbgrader_meta(cell).get("solution", False))


HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id_of(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def points_of(cell) -> float:
    return float(nbgrader_meta(cell).get("points", 0) or 0)


def is_answer_cell(cell) -> bool:
    """A code cell the student writes (nbgrader's solution cell), with a grade id."""
    return (
        cell.get("cell_type") == "code" and bool(nbgrader_meta(cell)) and is_solution(cell) and bool(grade_id_of(cell))
    )


def is_test_cell(cell) -> bool:
    """A graded code cell that is not an answer: a visible or a hidden check."""
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell)) and is_grade(cell) and not is_solution(cell)


def is_hidden_test_cell(cell) -> bool:
    """A test cell whose (instructor's) source holds a hidden-tests block."""
    return is_test_cell(cell) and HIDDEN_TESTS in cell.get("source", "")


def is_ready_made(cell) -> bool:
    """A code cell of the course's (not an answer, not a test): its imports are the notebook's."""
    return cell.get("cell_type") == "code" and not (nbgrader_meta(cell) and (is_grade(cell) or is_solution(cell)))


def exercise_of(grade_id: str) -> str:
    return grade_id.rsplit("_", 1)[0]


def is_hidden_check(grade_id: str) -> bool:
    """A graded cell of hidden checks (``returns_hidden``), by the course's naming of grade ids."""
    return grade_id.endswith("_hidden")


def graded_points(nb) -> dict[str, float]:
    """Points of every graded cell of a notebook, by grade id."""
    return {str(grade_id_of(c)): points_of(c) for c in nb.cells if nbgrader_meta(c) and is_grade(c) and grade_id_of(c)}
