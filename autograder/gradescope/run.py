"""Grade the one submission of a Gradescope run and write results.json, whatever happens.

The files under ``ROOT/submission`` are copied (safely: no link followed, no FIFO opened) into a
class of one student and graded by the course's pipeline, as the class command grades anyone; the
scorer's report of each graded cell becomes one test of results.json.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import nbformat

from autograder.paths import ROOT, assignment_ids
from autograder.pipeline import Options, grade_class, release_once, statuses
from autograder.pipeline.collect import collect
from autograder.pipeline.files import UnsafeFile, read_bytes, walk, write_atomic
from autograder.pipeline.report import max_points

STUDENT = "submission"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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


def _tests(notebook: str, scores: dict) -> list[dict]:
    """One test per graded cell of the notebook: the scorer's points and report."""
    cells = scores.get(notebook, {}).get("cells", {})
    tests = []
    for grade_id, maximum in max_points(notebook).items():
        exercise, kind = grade_id.rsplit("_", 1)
        cell = cells.get(grade_id, {})
        name = f"{exercise}: {'hidden checks' if kind == 'hidden' else 'sanity checks'}"
        tests.append(
            {
                "name": name,
                "score": float(cell.get("points", 0.0)),
                "max_score": float(maximum),
                "output": _text(cell.get("outputs", [])) or "not scored (see the message above)",
                "visibility": "visible",
            }
        )
    return tests


def zero(notebook: str, message: str) -> dict:
    return {
        "score": 0.0,
        "output": message,
        "tests": [
            {
                "name": f"{gid.rsplit('_', 1)[0]}: {'hidden checks' if gid.endswith('_hidden') else 'sanity checks'}",
                "score": 0.0,
                "max_score": float(m),
                "output": message,
                "visibility": "visible",
            }
            for gid, m in max_points(notebook).items()
        ],
    }


def lock_secrets() -> None:
    """Make the course's secrets (the solutions, the hidden checks, the releases) readable by root
    alone, and its folder crossable but not listable: where Gradescope's container forbids
    namespaces, the student's code runs with a throw-away uid and file permissions are what keep
    the answers from it (``--sandbox uid``)."""
    from autograder.pipeline import SECRETS

    (ROOT / "build").mkdir(exist_ok=True)  # the release is made there: closed from the start
    for path in SECRETS:
        if path.exists():
            path.chmod(0o700)
    ROOT.chmod(0o711)


def sandbox_for(choice: str) -> str:
    """``auto``: bwrap's namespaces where the container allows them, else uid mode (as root)."""
    from autograder.sandboxed import launcher

    if choice != "auto":
        return choice
    if launcher.available():
        return "on"
    return "uid" if launcher.uid_mode_available() else "off"


def grade(root: Path, notebook: str, options: Options | None = None) -> dict:
    """The results of grading ``root/submission`` as notebook ``notebook``."""
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
            )
        releases = release_once(work / "release", assignment_ids())
        collected = collect(
            work / "class", {nb: nbformat.read(p, as_version=4) for nb, p in releases.items()}, work / "copies"
        )
        if notebook not in {sub.notebook for sub in collected.submissions}:
            other = ", ".join(sorted({sub.notebook for sub in collected.submissions})) or "no notebook of this course"
            reasons = "; ".join(f"{path}: {reason}" for path, reason in collected.unmapped)
            return zero(
                notebook,
                f"This assignment grades {notebook}.ipynb; your submission holds {other}"
                + (f" ({reasons})" if reasons else "")
                + ". Upload the right notebook.",
            )
        options = options or Options(workers=1)
        grades, _ = grade_class(work / "class", work / "results", options, progress=False, notebooks=[notebook])
        g = next(g for g in grades if g.notebook == notebook)
        if g.status == statuses.INVALID:
            return zero(notebook, f"Your {notebook}.ipynb could not be graded: {g.message}")
        result_file = work / "results" / "work" / STUDENT / "score-result.json"
        scores = json.loads(result_file.read_text()) if result_file.exists() else {}
        lines = [f"{notebook}: {g.total:g} / {g.max_total:g} points ({g.status})"]
        if g.message:
            lines.append(g.message)
        lines += [f"not read: {line}" for line in skipped]
        lines.append(
            "Points per exercise: " + ", ".join(f"{ex} {p:g}/{g.max_exercises[ex]:g}" for ex, p in g.exercises.items())
        )
        return {"score": g.total, "output": "\n".join(lines), "tests": _tests(notebook, scores)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(root: Path, notebook: str, sandbox: str = "auto") -> dict:
    """Grade and write ``root/results/results.json``; a grader failure is a zero with its reason."""
    start = time.time()
    try:
        mode = sandbox_for(sandbox)
        print(f"sandbox: {mode} (bwrap's namespaces: on; a throw-away uid only: uid; none: off)")  # the instructor's
        if mode == "uid":
            lock_secrets()
            (root / "results").mkdir(parents=True, exist_ok=True)
            (root / "results").chmod(0o700)
        results = grade(root, notebook, Options(workers=1, sandbox=mode))
    except BaseException as exc:  # the results file is written whatever happens
        traceback.print_exc()  # stdout: shown to the instructor only
        results = zero(
            notebook,
            f"The grader failed on this submission ({type(exc).__name__}: {str(exc)[:300]}); "
            "your instructor has its log.",
        )
    results["execution_time"] = round(time.time() - start, 1)
    results["stdout_visibility"] = "hidden"
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=1))
    print(results.get("output", ""))
    return results
