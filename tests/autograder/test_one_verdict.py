"""One check, one verdict: every graded check of every notebook gives the same verdict where the
student runs it and where the grader scores it, for every student of the fixture class whose code
is an exercise's answer (the reference, the blank copy, each typical mistake, each correct variant).

* **The notebook's way**: the answer cells and then the check run in one process, as in a kernel
  (a visible check's probes on a ``LocalBench``; a hidden check as an instructor's solution
  notebook runs it).
* **The grader's way**: ``score_notebook``, the scorer's own function: the answer cells in an answers
  process, the check in this one with proxies (probes on a ``RemoteBench``, read from outside).

A visible check must pass or fail alike, with the same message; a hidden check must earn the same
points with the same report (both ways for the reference and the blank copy: in a kernel the hidden
checks run only in the instructor's solution notebook). The same run checks what each student must get: the reference full
marks, the blank copy zero, each mistake at most the hidden points its fixture's header says, with
the words it says (the mistake named), the other exercises full marks; each correct variant full marks.
"""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import re

import nbformat
import pytest

from autograder.cells import grade_id_of, is_hidden_test_cell, points_of
from autograder.paths import SOLUTIONS, assignment_ids
from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.scorer import answer_cells, imports, score_notebook
from autograder.pipeline.scorer import test_cells as graded_cells
from autograder.sandboxed.answers_server import python_source
from course_lib.checks import CheckFailed, stderr_to_stdout
from fixtures import CORRECT, FILES, HOSTILE, MISTAKES, bounds, handed_in

# Answers that are wrong or noisy in ways a check must take calmly (raise, NaN, a wrong dtype,
# prints on stderr): graded both ways like the mistakes, each within its fixture's bounds.
WRONG_ANSWERS = ("raises", "returns_nan", "wrong_dtype", "prints_to_stderr")


def students() -> list[tuple[str, str]]:
    """(student, notebook) for every answer of the fixture class."""
    out = [(who, nb) for nb in assignment_ids() for who in ("reference", "blank")]
    out += [(name, nb) for name, (nb, _, _) in sorted({**MISTAKES, **CORRECT}.items())]
    out += [(name, HOSTILE[name][0]) for name in WRONG_ANSWERS]
    return out


def run_here(source: str, namespace: dict) -> tuple[bool, str, float | None]:
    """A test cell run in this process, as a kernel runs it: (passed, message or report, its value)."""
    tree = ast.parse(python_source(source))
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    buffer, value = io.StringIO(), None
    with contextlib.redirect_stdout(buffer), stderr_to_stdout():
        try:
            exec(compile(tree, "<cell>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
        except CheckFailed as failure:
            return False, str(failure), None
        except Exception as exc:  # noqa: BLE001 - what the kernel would show
            return False, f"{type(exc).__name__}: {exc}", None
    return True, buffer.getvalue(), value


def as_in_a_notebook(nb: str, sub, hidden: bool = True) -> dict[str, tuple[bool, str, float | None]]:
    """Each test cell's verdict when the answer cells and the cell run in one process; ``hidden``:
    the hidden checks too (as an instructor's solution notebook runs them)."""
    source = nbformat.read(SOLUTIONS / f"{nb}.ipynb", as_version=4)
    namespace: dict = {"__name__": "__main__"}
    exec(imports(source), namespace)
    for grade_id, text in answer_cells(sub):
        python = python_source(text)
        filename = f"<cell {grade_id}>"  # as IPython does: the line of an error can be shown
        linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            exec(compile(python, filename, "exec"), namespace)
    return {
        grade_id_of(c): run_here(c.source, namespace)
        for c in graded_cells(source)
        if hidden or not is_hidden_test_cell(c)
    }


def numbers_rounded(text: str) -> str:
    """The same text with its numbers to 3 significant digits (float32 round-off across a process
    boundary may move a printed gradient in its 4th digit)."""
    return re.sub(r"-?\d+\.\d+(e-?\d+)?", lambda m: f"{float(m.group()):.3g}", text)


@pytest.fixture(scope="module")
def answers():
    with AnswersClient(call_timeout=60, budget=3600) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("student, nb", students(), ids=[f"{s}-{nb[:2]}" for s, nb in students()])
def test_each_check_gives_one_verdict_in_the_notebook_and_in_the_grader(student, nb, answers):
    sub = handed_in(student, nb)
    # The hidden checks run in a kernel only in a solution notebook (the reference); a student's
    # kernel never has them: for the others they are run the grader's way only.
    here = as_in_a_notebook(nb, sub, hidden=student in ("reference", "blank"))
    scored = score_notebook(nb, sub, answers, space=f"{student}-{nb}").cells
    source = {grade_id_of(c): c for c in graded_cells(nbformat.read(SOLUTIONS / f"{nb}.ipynb", as_version=4))}
    for grade_id, cell in source.items():
        if grade_id not in here:
            continue
        passed, said, value = here[grade_id]
        got = scored[grade_id]
        text = "".join(o.get("text", "") for o in got.outputs if o["output_type"] == "stream")
        error = next((_shown(o) for o in got.outputs if o["output_type"] == "error"), None)
        if is_hidden_test_cell(cell):
            assert value is not None and abs(value - got.points) < 0.005, (grade_id, said, text)
            assert numbers_rounded(said) == numbers_rounded(text), (grade_id, said, text)
        else:
            assert passed == (got.points == points_of(cell)), (grade_id, said, error)
            if not passed:
                assert numbers_rounded(said) == numbers_rounded(error or ""), (grade_id, said, error)
    check_expected(student, nb, scored, source)


def _shown(error: dict) -> str:
    """An error output as ``run_here`` says it: a failed check's message, else 'Type: message'."""
    return error["evalue"] if error["ename"] == "CheckFailed" else f"{error['ename']}: {error['evalue']}"


def check_expected(student: str, nb: str, scored: dict, source: dict) -> None:
    points = {gid: s.points for gid, s in scored.items()}
    full = {gid: points_of(c) for gid, c in source.items()}
    if student in ("reference", *CORRECT):
        assert points == full, points
    elif student == "blank":
        assert set(points.values()) == {0.0}, points
    elif student in WRONG_ANSWERS:
        _, low, high = bounds(student)[nb]
        assert low <= sum(points.values()) <= high, points
    else:
        _, cell, _ = MISTAKES[student]
        hidden = cell.replace("_solution", "_hidden")
        at_most, words = FILES["mistakes"][student]["at_most"], FILES["mistakes"][student]["says"]
        report = "".join(o.get("text", "") for o in scored[hidden].outputs)
        assert points[hidden] <= at_most and words in report, report
        exercise = {gid: p for gid, p in points.items() if gid.startswith(hidden[: -len("_hidden")])}
        assert sum(exercise.values()) <= 0.5 * sum(full[gid] for gid in exercise), exercise  # loses at least half
        assert {gid: p for gid, p in points.items() if not gid.startswith(hidden[: -len("_hidden")])} == {
            gid: p for gid, p in full.items() if not gid.startswith(hidden[: -len("_hidden")])
        }, points


def test_every_typical_mistake_says_what_it_must_get():
    for name, f in FILES["mistakes"].items():
        assert f["at_most"] is not None and f["says"], name
