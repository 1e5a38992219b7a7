"""Step 2 of the pipeline, execute: nbgrader's autograde runs a student's notebooks in the sandboxed
kernel, for the feedback and the status; no point comes from it.

One nbgrader autograde per student (``run_notebooks``), with a hard limit on the whole run; inside
it, ``autograder.nbgrader_process.grading_execute`` runs each notebook's cells, bounds their output and
time, and marks in the cells how the run went wrong (``autograder.nbgrader_process.marks``), which
``run_problems`` reads back into each notebook's status (``statuses``) and message. The hidden test
cells are never run in the kernel: the scorer (step 3) scores every graded cell outside it.
"""

from __future__ import annotations

import shutil
import subprocess

import nbformat
from nbformat import NotebookNode

from autograder.cells import grade_id_of
from autograder.nbgrader_cli import nbgrader
from autograder.nbgrader_process.marks import CELL_TIMEOUT, KERNEL_DIED, NOT_RUN, OUTPUT_TOO_LARGE, RUN_PROBLEMS
from autograder.pipeline import statuses
from autograder.pipeline.collect import Submission, repair
from autograder.pipeline.files import read_bytes, read_notebook
from autograder.pipeline.job import HARD_TIMEOUT_GRACE, Job, Options

KNOWN_ERRORS = {
    "DeadKernelError": "the kernel died (out of memory, or the process was killed)",
    "Kernel died": "the kernel died (out of memory, or the process was killed)",
    "MemoryError": "out of memory",
    "CellTimeoutError": "a cell ran out of time",
}


def run_notebooks(
    job: Job, subs: list[Submission], releases: dict[str, NotebookNode]
) -> dict[str, tuple[statuses.Status, str]]:
    """Repair a student's submissions and run them with one nbgrader autograde (one process start
    for all of them), each in the sandboxed kernel, for the feedback. Returns each notebook's
    (status, message) of the run; no point is taken from it."""
    runs: dict[str, tuple[statuses.Status, list[str], str]] = {}
    for sub in subs:
        notes = list(sub.notes)
        if sub.status == statuses.GRADED:
            nb = nbformat.reads(read_bytes(sub.path).decode("utf-8"), as_version=4)  # the grader's own copy
            fixes = repair(nb, releases[sub.notebook])
            sub.repaired, notes = bool(fixes), notes + fixes
            job.submitted(sub.notebook).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, job.submitted(sub.notebook))
        runs[sub.notebook] = (sub.status, notes, "")
    graded = [sub for sub in subs if sub.status == statuses.GRADED]
    options = job.options
    if graded:
        pattern = graded[0].notebook if len(graded) == 1 else "*"
        budget = options.notebook_timeout * len(graded) + HARD_TIMEOUT_GRACE
        try:  # GradingExecute keeps to each notebook's budget; this hard limit is for a kernel that won't stop
            proc = nbgrader(
                job.course,
                "autograde",
                pattern,
                f"--student={job.student}",
                "--force",
                env=job.env(),
                timeout=budget,
                check=False,
                also_kill=job.kill_leftovers,
            )
            if proc.returncode != 0:
                (job.course / "nbgrader.log").write_text(proc.stdout[-200_000:])  # for the instructor
                for sub in graded:
                    if not job.autograded(sub.notebook).exists():
                        runs[sub.notebook] = (statuses.ERROR, runs[sub.notebook][1], nbgrader_error(proc.stdout))
        except subprocess.TimeoutExpired:
            for sub in graded:
                if not job.autograded(sub.notebook).exists():
                    runs[sub.notebook] = (
                        statuses.TIMEOUT,
                        runs[sub.notebook][1],
                        f"the notebook did not finish in {options.notebook_timeout} s and could not be stopped",
                    )
    results: dict[str, tuple[statuses.Status, str]] = {}
    for sub in subs:
        status, notes, message = runs[sub.notebook]
        autograded = job.autograded(sub.notebook)
        if status == statuses.TIMEOUT and autograded.parent.exists():  # killed mid-run: no run to show
            shutil.rmtree(autograded.parent)
        elif status == statuses.GRADED and autograded.exists():
            status, message = run_problems(read_notebook(autograded), options)
            if status == statuses.GRADED and sub.cut:  # graded as it stands, without what was left out
                status = statuses.INPUT_TOO_LARGE
        results[sub.notebook] = (status, "; ".join(filter(None, [message, *notes])))
    return results


def nbgrader_error(output: str, doing: str = "grade this notebook") -> str:
    """One sentence for the student from nbgrader's log of a failed run (of ``doing``)."""
    for key, sentence in KNOWN_ERRORS.items():
        if key in output:
            return sentence
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"nbgrader could not {doing}: " + (lines[-1][:300] if lines else "no output")


def _cell_name(cell, index: int) -> str:
    """A graded cell by its grade id, any other by its number and first line (what a student can find)."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return grade_id_of(cell) or f"cell {index + 1} ({first[:40]!r})"


def run_problems(nb: NotebookNode | None, options: Options) -> tuple[statuses.Status, str]:
    """(status, message) of an autograded notebook, from the errors that mark how its run went wrong."""
    found: dict[str, list[str]] = {}
    for index, cell in enumerate(nb.cells if nb is not None else []):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error" and output.get("ename") in RUN_PROBLEMS:
                found.setdefault(output["ename"], []).append(_cell_name(cell, index))
    messages = []
    if found.get(KERNEL_DIED):
        messages.append(
            f"the kernel died in {', '.join(found[KERNEL_DIED])} (exit() or os._exit(), or the "
            "process was killed); the cells after it ran in a new kernel"
        )
    if found.get(CELL_TIMEOUT):
        messages.append(
            f"cell(s) ran out of time ({options.cell_timeout} s a cell at most): "
            f"{', '.join(dict.fromkeys(found[CELL_TIMEOUT]))}"
        )
    if found.get(NOT_RUN):
        messages.append(
            f"the notebook used up its {options.notebook_timeout} s: "
            f"{len(found[NOT_RUN])} cell(s) from {found[NOT_RUN][0]} on were not run"
        )
    if found.get(OUTPUT_TOO_LARGE):
        cells = list(dict.fromkeys(found[OUTPUT_TOO_LARGE]))
        messages.append(
            f"output too large in {', '.join(cells[:3])}{' and later cells' if len(cells) > 3 else ''}: "
            "it was cut (the points do not depend on it)"
        )
    status = (
        statuses.ERROR
        if KERNEL_DIED in found
        else statuses.TIMEOUT
        if CELL_TIMEOUT in found or NOT_RUN in found
        else statuses.OUTPUT_TOO_LARGE
        if found
        else statuses.GRADED
    )
    return status, "; ".join(messages)
