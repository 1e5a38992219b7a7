"""The scorer: the process that scores a student's notebooks. Every point the grader records comes
from here, outside the kernel.

    python -m autograder.pipeline.scorer REQUEST.json RESULT.json    # started by score.run_scorer

Its outputs are not trusted (why, and what is: ``docs/grading.md``). This process, which never
runs a line of the student's code, scores every graded test cell of the course's source notebook:
the student's answer cells run in the answers server, the test cells here, with the exercises'
functions (only those) as proxies; a visible check earns its points unless it raises, a hidden
check the number it returns, if that number is within its points and equal to what its report says.
The result holds, per notebook and graded cell, the points and the outputs to show in the feedback
in place of what the kernel printed (``scoring``: the request and the reply).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import math
import os
import re
import sys
import time
from pathlib import Path

import nbformat

from autograder.cells import (
    HIDDEN_TESTS,
    grade_id_of,
    is_answer_cell,
    is_hidden_test_cell,
    is_ready_made,
    is_test_cell,
    points_of,
)
from autograder.hidden import harness
from autograder.outputs import error_output
from autograder.paths import SOLUTIONS
from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.scoring import CellScore, NotebookScore, ScoreRequest, write_reply
from autograder.reference import reference
from autograder.sandboxed.answers_server import python_source
from course_lib.checks import stderr_to_stdout
from course_lib.runtime import quiet_warnings

REPORT_POINTS = re.compile(r":\s*(-?[0-9.]+)\s*/\s*([0-9.]+)\s*points")
MAX_SAID = 300  # characters of a failed check's message kept for the class report (its values can be long)


def answer_cells(nb) -> list[tuple[str, str]]:
    """(grade id, source) of every code answer cell, in notebook order."""
    return [(str(grade_id_of(c)), c.source) for c in nb.cells if is_answer_cell(c)]


def test_cells(nb) -> list:
    return [c for c in nb.cells if is_test_cell(c)]


def imports(nb) -> str:
    """The notebook's own top-level imports (of its ready-made cells): what answer cells may rely on."""
    lines = []
    for cell in nb.cells:
        if not is_ready_made(cell):
            continue
        try:
            tree = ast.parse(python_source(cell.source))
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def exercise_names(nb) -> set[str]:
    """The functions and classes the source notebook's answer cells define: the only names of the
    student's that the test cells get (never a builtin or a name of the notebook's imports)."""
    names = set()
    for _, source in answer_cells(nb):
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError:
            continue
        names |= {
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
    return {n for n in names if not hasattr(builtins, n)}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _output_text(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _error_output(exc: BaseException) -> dict:
    return dict(error_output(type(exc).__name__, str(exc)))


def run_test_cell(source: str, max_points: float, namespace: dict) -> CellScore:
    """Run one graded test cell here, with the student's functions as proxies; score it."""
    hidden = HIDDEN_TESTS in source
    reports = len(harness.REPORTS)
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    assert last is None or isinstance(last, ast.Expr)
    buffer, value, error = io.StringIO(), None, None
    with contextlib.redirect_stdout(buffer), stderr_to_stdout():
        try:
            exec(compile(tree, "<test cell>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace)
        except Exception as exc:  # a visible check that failed, or the student's code
            error = exc
    text = buffer.getvalue()
    outputs = [_output_text(text)] if text else []
    if error is not None:
        return CellScore(0.0, max_points, outputs + [_error_output(error)], failed=_first_line(error))
    number = _number(value)
    if hidden:
        if number is None:
            problem = (
                "this graded cell produced no result"
                if value is None
                else f"this graded cell produced a {type(value).__name__}, not a number of points"
            )
            return CellScore(0.0, max_points, outputs + [_output_text(f"Scored 0: {problem}.\n")], problem)
        reported = REPORT_POINTS.search(text)
        if reported and abs(float(reported.group(1)) - number) > 0.005:
            problem = f"the cell's result ({number:g}) disagrees with its report ({reported.group(1)})"
            return CellScore(0.0, max_points, outputs + [_output_text(f"Scored 0: {problem}.\n")], problem)
    points = max_points if number is None else min(max(number, 0.0), max_points)
    failed, said = harness.REPORTS[-1].first_failure() if hidden and len(harness.REPORTS) > reports else ("", "")
    return CellScore(round(points, 2), max_points, outputs, failed=failed, said=said[:MAX_SAID])


def _first_line(error: BaseException) -> str:
    """A failed visible check's message, its first line (what an instructor reads in grades.csv)."""
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if type(error).__name__ == "CheckFailed" else f"{type(error).__name__}: {first}"


def stand_ins(nb_id: str) -> dict[str, tuple[str, ...]]:
    """The exercise functions of a notebook that are scored with the course's own versions of the
    functions students paste from earlier notebooks (``STAND_INS`` of its hidden checks): their
    points measure the new skill; the hidden checks report on the pasted functions apart."""
    try:
        module = importlib.import_module(f"autograder.hidden.nb{nb_id[:2]}")
    except ImportError:
        return {}
    return dict(getattr(module, "STAND_INS", {}))


def score_notebook(
    nb_id: str, submission, answers, source_dir: Path = SOLUTIONS, space: str | None = None
) -> NotebookScore:
    """Every graded test cell of notebook ``nb_id``, scored against the student's answer cells (run
    in the answers process's namespace ``space``, the notebook's id unless told)."""
    space = space or nb_id
    start = time.monotonic()
    source = nbformat.read(source_dir / f"{nb_id}.ipynb", as_version=4)
    result = NotebookScore()
    prelude = imports(source)
    problem = answers.exec_cell(space, "imports", prelude) if prelude else None
    if problem:
        result.notes.append(f"the notebook's imports failed in the grader: {problem}")
    for grade_id, text in answer_cells(submission):
        problem = answers.exec_cell(space, grade_id, text)
        if problem is not None and problem.left_out:
            result.notes.append(problem)
    trusted: dict = {"__name__": "__main__"}
    exec(compile(prelude, "<imports>", "exec"), trusted)
    allowed = exercise_names(source) - set(trusted)
    stands_in_for = stand_ins(nb_id)
    if stands_in_for:
        answers.stand_in(
            space, {name: getattr(reference(nb_id), name) for names in stands_in_for.values() for name in names}
        )
    # The hidden checks score an exercise with the course's versions of the functions pasted from
    # earlier notebooks standing in; the visible checks run the student's code as their notebook
    # does (their pasted functions too), so that each gives the verdict it gives there.
    scored = {name: f for name, f in answers.functions(space, stands_in_for).items() if name in allowed}
    own = {name: f for name, f in answers.functions(space).items() if name in allowed}
    for cell in test_cells(source):
        namespace = {**trusted, **(scored if is_hidden_test_cell(cell) else own)}
        result.cells[str(grade_id_of(cell))] = run_test_cell(cell.source, points_of(cell), namespace)
    result.seconds = round(time.monotonic() - start, 2)
    return result


def score_student(request: ScoreRequest) -> dict[str, NotebookScore]:
    """Score every notebook of one student (one process for their answers, one namespace per notebook)."""
    quiet_warnings()
    results = {}
    env = {**os.environ, **request.env} if request.env else None
    with AnswersClient(
        request.command,
        env,
        request.cwd,
        call_timeout=max(request.call_timeouts.values(), default=0.0),
        budget=request.budget,
        own_shm=request.own_shm,
        files_uid=request.files_uid,
    ) as answers:
        for nb_id, path in request.notebooks.items():
            answers.set_budget(request.budget)
            answers.call_timeout = request.call_timeouts[nb_id]
            try:
                submission = nbformat.read(path, as_version=4)
            except Exception as exc:  # the grader only sends valid notebooks; say so if not
                results[nb_id] = NotebookScore(notes=[f"could not read the submission: {exc}"])
                continue
            results[nb_id] = score_notebook(nb_id, submission, answers)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m autograder.pipeline.scorer REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    write_reply(score_student(ScoreRequest.read(Path(argv[0]))), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
