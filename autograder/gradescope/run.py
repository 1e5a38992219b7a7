"""Grade the one submission of a Gradescope run and write results.json, whatever happens.

The files under ``ROOT/submission`` are copied (safely: no link followed, no FIFO opened) into a
class of one student and graded by the course's pipeline, as the class command grades anyone; the
scorer's report of each graded cell becomes one test of results.json.
"""

from __future__ import annotations

import enum
import json
import re
import shutil
import tempfile
import time
import traceback
from pathlib import Path

from autograder.cells import exercise_of, is_hidden_check
from autograder.paths import ROOT
from autograder.pipeline import statuses
from autograder.pipeline.files import UnsafeFile, read_bytes, walk, write_atomic
from autograder.pipeline.job import SECRETS, Options, Sandbox, TwoFiles
from autograder.pipeline.report import NotebookGrade, max_points
from autograder.pipeline.run import grade_class
from autograder.sandboxed import launcher

STUDENT = "submission"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Visibility(str, enum.Enum):
    """When students see a test of results.json (Gradescope's names for it)."""

    VISIBLE = "visible"  # at once
    HIDDEN = "hidden"  # never (the instructors see it)
    AFTER_DUE_DATE = "after_due_date"
    AFTER_PUBLISHED = "after_published"  # once the instructors publish the grades


HIDDEN_CHECKS = Visibility.AFTER_DUE_DATE  # the default of `make gradescope`; the visible checks are always visible
FORMAT = "md"  # every output is one fenced block: shown as written, nothing in it rendered


def fenced(text: str) -> str:
    """``text`` as a Markdown code block: its lines and spaces kept, nothing in it (a student's
    printed Markdown or HTML) rendered; the fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _copy_submission(submission: Path, into: Path) -> list[str]:
    """The submitted files, read safely, into ``into``; what was left out, and why."""
    skipped = []
    for path, problem in walk(submission) if submission.is_dir() else []:
        rel = path.relative_to(submission)
        if problem:
            skipped.append(f"{rel}: {problem}, not read")
            continue
        try:
            data = read_bytes(path)
        except UnsafeFile as exc:
            skipped.append(f"{rel}: {exc}")
            continue
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return skipped


def _text(outputs: list[dict]) -> str:
    """What a graded cell showed, as plain text (its stream outputs and its error, no colours)."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n")
    return ANSI.sub("", "".join(parts)).strip()


def _test(grade_id: str, maximum: float, points: float, output: str, hidden_checks: Visibility) -> dict:
    """One test of results.json: a graded cell (an exercise's sanity checks or its hidden checks)."""
    exercise, hidden = exercise_of(grade_id), is_hidden_check(grade_id)
    return {
        "name": f"{exercise}: {'hidden checks' if hidden else 'sanity checks'}",
        "score": points,
        "max_score": float(maximum),
        "status": "passed" if points >= maximum else "failed",
        "output": fenced(output),
        "output_format": FORMAT,
        "visibility": (hidden_checks if hidden else Visibility.VISIBLE).value,
    }


WHEN = {
    Visibility.AFTER_DUE_DATE: "after the due date",
    Visibility.AFTER_PUBLISHED: "once the grades are published",
    Visibility.HIDDEN: "to your instructors only",
}


def summary(g: NotebookGrade, skipped: list[str], hidden_checks: Visibility) -> str:
    """The text above the tests, always shown: the status and what went wrong in the run; the
    points per exercise and which hidden check failed first only when the hidden checks show now
    (else they would tell what the hidden tests hold back)."""
    if hidden_checks is Visibility.VISIBLE:
        lines = [f"{g.notebook}: {g.total:g} / {g.max_total:g} points ({g.status})", g.message]
        lines.append(
            "Points per exercise: " + ", ".join(f"{ex} {p:g}/{g.max_exercises[ex]:g}" for ex, p in g.exercises.items())
        )
    else:
        maxima = max_points(g.notebook)
        sanity = [gid for gid in maxima if not is_hidden_check(gid)]
        earned = sum(g.scored[gid].points for gid in sanity if gid in g.scored)
        hidden = sum(maxima[gid] for gid in maxima if is_hidden_check(gid))
        lines = [
            f"{g.notebook}: the sanity checks {earned:g} / {sum(maxima[gid] for gid in sanity):g} points ({g.status}); "
            f"the hidden checks ({hidden:g} points) show {WHEN[hidden_checks]}",
            g.about_run,
        ]
    return "\n".join([line for line in lines if line] + [f"not read: {line}" for line in skipped])


def _tests(grade: NotebookGrade, hidden_checks: Visibility) -> list[dict]:
    """One test per graded cell of the notebook: the scorer's points and report."""
    tests = []
    for grade_id, maximum in max_points(grade.notebook).items():
        cell = grade.scored.get(grade_id)
        output = (_text(cell.outputs) if cell else "") or "not scored (see the message above)"
        tests.append(_test(grade_id, maximum, cell.points if cell else 0.0, output, hidden_checks))
    return tests


def results(score: float, output: str, tests: list[dict]) -> dict:
    return {"score": score, "output": fenced(output), "output_format": FORMAT, "tests": tests}


def zero(notebook: str, message: str, hidden_checks: Visibility = HIDDEN_CHECKS) -> dict:
    return results(
        0.0, message, [_test(gid, m, 0.0, message, hidden_checks) for gid, m in max_points(notebook).items()]
    )


def lock_secrets() -> None:
    """Make the course's secrets (the solutions, the hidden checks, the releases) readable by root
    alone, and its folder crossable but not listable: where Gradescope's container forbids
    namespaces, the student's code runs with a throw-away uid and file permissions are what keep
    the answers from it (``--sandbox uid``)."""
    (ROOT / "build").mkdir(exist_ok=True)  # the release is made there: closed from the start
    for path in SECRETS:
        if path.exists():
            path.chmod(0o700)
    ROOT.chmod(0o711)


def grade(root: Path, notebook: str, options: Options | None = None, hidden_checks: Visibility = HIDDEN_CHECKS) -> dict:
    """The results of grading ``root/submission`` as notebook ``notebook``; the hidden checks' tests
    are shown to students as ``hidden_checks`` says."""
    work = Path(tempfile.mkdtemp(prefix="gradescope-"))
    try:
        skipped = _copy_submission(root / "submission", work / "class" / STUDENT)
        found = sorted(p.name for p in (work / "class" / STUDENT).rglob("*.ipynb")) if (work / "class").exists() else []
        if not found:
            if skipped:
                return zero(
                    notebook,
                    "No notebook could be read from your submission: "
                    + "; ".join(skipped)
                    + f". Upload your {notebook}.ipynb itself.",
                    hidden_checks,
                )
            listed = (
                ", ".join(sorted(str(p.relative_to(root / "submission")) for p, _ in walk(root / "submission")))
                if (root / "submission").is_dir()
                else ""
            )
            return zero(
                notebook,
                f"No notebook (.ipynb) in your submission{': only ' + listed if listed else ''}. "
                f"Upload your {notebook}.ipynb.",
                hidden_checks,
            )
        options = options or Options(workers=1)
        run = grade_class(
            work / "class", work / "results", options, progress=False, notebooks=[notebook], report=False
        )  # one student: no class report
        g = next((g for g in run.grades if g.notebook == notebook), None)
        if g is None:
            other = ", ".join(sorted(set(run.found.get(STUDENT, [])))) or "no notebook of this course"
            reasons = "; ".join(f"{path}: {reason}" for path, reason in run.unmapped)
            return zero(
                notebook,
                f"This assignment grades {notebook}.ipynb; your submission holds {other}"
                + (f" ({reasons})" if reasons else "")
                + ". Upload the right notebook.",
                hidden_checks,
            )
        if g.status == statuses.INVALID:
            return zero(notebook, f"Your {notebook}.ipynb could not be graded: {g.message}", hidden_checks)
        return results(g.total, summary(g, skipped, hidden_checks), _tests(g, hidden_checks))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(root: Path, notebook: str, sandbox: str = "auto", hidden_checks: str = HIDDEN_CHECKS.value) -> dict:
    """Grade and write ``root/results/results.json``; a grader failure is a zero with its reason.
    ``sandbox`` means what ``--sandbox`` means everywhere (``autograder.pipeline.job.Sandbox``);
    ``hidden_checks`` is when students see the hidden checks' tests (``Visibility``)."""
    start = time.time()
    try:
        choice = Sandbox(sandbox)
        if choice is Sandbox.UID:
            lock_secrets()  # the uid mode's condition, which setup.sh's prepare met: this run makes sure
        # An upload keeps no file times (Gradescope's, and our copy's): two different files for the
        # notebook are refused with their names, never chosen by a time that says nothing.
        options = Options(workers=1, sandbox=choice, two_files=TwoFiles.REFUSE)
        mode = options.sandbox_mode()  # what auto means is job.sandbox_mode's alone
        if mode is None and choice is Sandbox.AUTO and launcher.uid_mode_available():
            lock_secrets()  # auto found no namespaces and the secrets open: closed, the uid mode can run
            mode = options.sandbox_mode()
        print(
            f"sandbox: {mode or 'off'} ({launcher.NAMESPACES}: bwrap's namespaces; {launcher.UID}: a throw-away uid only)"
        )
        if mode == launcher.UID:
            (root / "results").mkdir(parents=True, exist_ok=True)
            (root / "results").chmod(0o700)
        graded = grade(root, notebook, options, Visibility(hidden_checks))
    except BaseException as exc:  # the results file is written whatever happens
        traceback.print_exc()  # stdout: shown to the instructor only
        graded = zero(
            notebook,
            f"The grader failed on this submission ({type(exc).__name__}: {str(exc)[:300]}); "
            "your instructor has its log.",
        )
    graded["execution_time"] = round(time.time() - start, 1)
    graded["stdout_visibility"] = "hidden"
    write_atomic(root / "results" / "results.json", json.dumps(graded, indent=1))
    print(graded.get("output", ""))
    return graded
