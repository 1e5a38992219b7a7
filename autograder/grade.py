"""Grade a whole class with nbgrader, in parallel and sandboxed, and write grades and feedback.

    python -m autograder.grade SUBMISSIONS --out RESULTS [--workers N]

SUBMISSIONS is a zip or a folder (naming rule in ``autograder/collect.py`` and the README).
RESULTS receives ``grades.csv`` (a row per student and notebook: status, total, points per
exercise, a message), ``unmapped.csv`` (files that could not be matched to a student and a
notebook), ``feedback/<student>/<notebook>.html``, and ``work/`` (nbgrader's course folders).

The pipeline, for each student:

1. **collect** the files and map them to notebooks, **repair** what the student broke
   (``autograder/collect.py``);
2. **execute** each notebook with nbgrader's autograde in a sandboxed kernel
   (``autograder/execute.py``, ``autograder/sandbox.py``): this run makes the feedback, and says
   whether the notebook ran (the status); no point is taken from it;
3. **score** every graded cell in ``autograder.score``, a clean process that calls the student's
   answer cells in a sandboxed process of their own: every point comes from there;
4. **report**: the scorer's points go to ``grades.csv`` and to the gradebook, its outputs replace
   the kernel's in the graded cells, and nbgrader writes the feedback.

Every student is graded in a course folder of their own (a copy of one generated gradebook), so
parallel workers never write to the same gradebook, and a re-run starts each student afresh:
the same submission always gets the same grade. ``grades.csv`` keeps one row per student and
notebook: a re-run replaces the rows it grades and keeps the others.
Statuses say how the notebook's run went; the points do not depend on it: ``graded``;
``timeout`` (a cell or the whole notebook ran out of time); ``error`` (the kernel died, and the
cells after it ran in a new kernel; or nbgrader could not run the notebook at all; or scoring
failed, which scores zero); ``output-too-large`` (a cell printed more than the limit: its output
was cut and the cell stopped); ``invalid-notebook`` (not JSON, not a notebook: zero).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import sandbox
from autograder.collect import Submission, collect, grade_id_of, repair, unpack
from autograder.files import UnsafeFile, read_bytes, write_atomic
from autograder.execute import CELL_TIMEOUT, KERNEL_DIED, NOT_RUN, OUTPUT_TOO_LARGE
from autograder.grading import NotebookGrade, max_points, record_scores, table
from autograder.release import CONFIG, ROOT, assignment_ids, course_env, generate, nbgrader

FIRST_SANDBOX_UID = 61000
HARD_TIMEOUT_GRACE = 60  # seconds nbgrader gets past the notebook's budget before it is killed
RUN_PROBLEMS = (KERNEL_DIED, CELL_TIMEOUT, NOT_RUN, OUTPUT_TOO_LARGE)
OUTPUT_STATUS = "output-too-large"
MAX_FEEDBACK_BYTES = 256 * 1024**2  # an autograded notebook or feedback page (its outputs are bounded: execute.py)


@dataclass
class Options:
    workers: int = os.cpu_count() or 1
    notebook_timeout: int = 600  # seconds for one notebook, kernel start to last cell
    cell_timeout: int = 120
    sandbox: str = "auto"  # auto: on when bwrap, prlimit and root are there
    memory_gb: float = 4.0
    cpu_seconds: int = 900

    def use_sandbox(self) -> bool:
        if self.sandbox == "off":
            return False
        if self.sandbox == "on" and not sandbox.available():
            raise SystemExit("--sandbox on needs bubblewrap, prlimit and root (apt-get install bubblewrap)")
        return sandbox.available()


class Grader:
    """The pipeline for one class: collect, repair, execute (feedback), score, report."""

    def __init__(self, out: Path, options: Options):
        self.out, self.options = out.resolve(), options
        self.work = self.out / "work"
        self.template = self.work / "_template"
        self.stage: Path | None = None  # made by prepare()
        self.sandboxed = options.use_sandbox()

    def close(self) -> None:
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)

    def prepare(self, notebook_ids: list[str]) -> dict[str, nbformat.NotebookNode]:
        """One nbgrader generate for the class; every student's course folder copies its gradebook."""
        shutil.rmtree(self.template, ignore_errors=True)
        released = generate(self.template, notebook_ids)
        # What the sandboxes mount read-only (the public grading modules, course_lib): a folder of
        # this run's own, outside the results, so that no path of the results is shown inside.
        self.stage = sandbox.stage_public_modules(ROOT, Path(tempfile.mkdtemp(prefix="grading-stage-")))
        if self.sandboxed:
            sandbox.install_kernelspec(self.work / "_jupyter")
        return {nb_id: nbformat.read(path, as_version=4) for nb_id, path in released.items()}

    def _course_dir(self, student: str, runtime: Path) -> Path:
        course = self.work / student
        shutil.rmtree(course, ignore_errors=True)
        course.mkdir(parents=True)
        shutil.copy2(self.template / "gradebook.db", course / "gradebook.db")
        shutil.copytree(self.template / "source", course / "source")
        config = CONFIG.read_text() + (f"\nc.Execute.timeout = {self.options.cell_timeout}\n"
                                       f"c.GradingExecute.notebook_timeout = {self.options.notebook_timeout}\n")
        if self.sandboxed:
            config += (f"c.Execute.kernel_name = {sandbox.KERNEL_NAME!r}\n"
                       "c.KernelManager.transport = 'ipc'\n"
                       f"c.KernelManager.ip = {str(runtime / 'kernel')!r}\n")
        (course / "nbgrader_config.py").write_text(config)
        return course

    def _env(self, runtime: Path, uid: int) -> dict[str, str]:
        """The environment of a process that runs the student's code (in the sandbox, when on)."""
        # Notebooks graded side by side share the cores: torch gets its share, not all of them.
        threads = max(1, (os.cpu_count() or 1) // self.options.workers)
        env = course_env(JUPYTER_RUNTIME_DIR=str(runtime), OMP_NUM_THREADS=str(threads))
        if self.sandboxed:
            env["JUPYTER_PATH"] = str(self.work / "_jupyter")
            env.update(sandbox.sandbox_env(
                runtime=runtime, stage=self.stage, uid=uid,
                memory=int(self.options.memory_gb * 1024**3), cpu_seconds=self.options.cpu_seconds))
        return env

    def grade_student(self, student: str, subs: list[Submission], releases: dict, uid: int) -> list[NotebookGrade]:
        # The kernel's sockets and connection files (root's, 0700): a short path, since a Unix
        # socket's path must fit in 108 bytes, which a deep results folder and a long id can exceed.
        # The unsandboxed answers process starts in work/ (the sandboxed one in a memory folder).
        temporary = Path(tempfile.mkdtemp(prefix="grade-"))
        runtime, work = temporary / "run", temporary / "work"
        for folder in (runtime, work):
            folder.mkdir(mode=0o700)
        timings: dict[str, float] = {}  # where a student's time goes: work/<student>/timings.json

        def timed(name, work, *args):
            start = time.perf_counter()
            try:
                return work(*args)
            finally:
                timings[name] = round(time.perf_counter() - start, 2)

        try:
            course = self._course_dir(student, runtime)
            (course / "autograded" / student).mkdir(parents=True)
            runs = timed("execute", self._execute, course, runtime, uid, subs, releases)
            scores = timed("score", self._score, course, work, runtime, uid, student,
                           [s for s in subs if s.status == "graded"])
            grades = [self._report(course, sub, *runs[sub.notebook], scores) for sub in subs]
            timed("feedback", self._feedback, course, student, grades)
            (course / "timings.json").write_text(json.dumps(timings))
            return grades
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def _execute(self, course: Path, runtime: Path, uid: int, subs: list[Submission],
                 releases: dict) -> dict[str, tuple[str, str]]:
        """Repair the submissions and run them with one nbgrader autograde (one process start for
        all of a student's notebooks), each in the sandboxed kernel in its own folder, for the
        feedback. Returns each notebook's (status, message) of the run; no point is taken from it."""
        runs: dict[str, tuple[str, list[str], str]] = {}
        for sub in subs:
            notes = list(sub.notes)
            if sub.status == "graded":
                nb = nbformat.reads(read_bytes(sub.path).decode("utf-8"), as_version=4)  # the grader's own copy
                notes += repair(nb, releases[sub.notebook])
                target = course / "submitted" / sub.student / sub.notebook / f"{sub.notebook}.ipynb"
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, target)
            runs[sub.notebook] = (sub.status, notes, "")
        graded = [sub for sub in subs if sub.status == "graded"]
        if graded:
            # Sandboxed, a kernel writes only memory folders of its own, never nbgrader's folders.
            env = self._env(runtime, uid)
            pattern = graded[0].notebook if len(graded) == 1 else "*"
            budget = self.options.notebook_timeout * len(graded) + HARD_TIMEOUT_GRACE
            try:  # GradingExecute keeps to each notebook's budget; this hard limit is for a kernel that won't stop
                proc = nbgrader(course, "autograde", pattern, f"--student={graded[0].student}", "--force",
                                env=env, timeout=budget, check=False)
                if proc.returncode != 0:
                    (course / "nbgrader.log").write_text(proc.stdout)  # for the instructor
                    for sub in graded:
                        if not self._autograded(course, sub).exists():
                            runs[sub.notebook] = ("error", runs[sub.notebook][1], _nbgrader_error(proc.stdout))
            except subprocess.TimeoutExpired:
                for sub in graded:
                    if not self._autograded(course, sub).exists():
                        runs[sub.notebook] = ("timeout", runs[sub.notebook][1],
                                              f"the notebook did not finish in {self.options.notebook_timeout} s "
                                              "and could not be stopped")
        results = {}
        for sub in subs:
            status, notes, message = runs[sub.notebook]
            autograded = self._autograded(course, sub)
            if status == "timeout" and autograded.parent.exists():  # killed mid-run: nbgrader has no run to show
                shutil.rmtree(autograded.parent)
            elif status == "graded" and autograded.exists():
                status, message = _run_problems(_read_notebook(autograded), self.options)
            results[sub.notebook] = (status, "; ".join(filter(None, [message, *notes])))
        return results

    @staticmethod
    def _autograded(course: Path, sub: Submission) -> Path:
        return course / "autograded" / sub.student / sub.notebook / f"{sub.notebook}.ipynb"

    def _score(self, course: Path, work: Path, runtime: Path, uid: int, student: str,
               subs: list[Submission]) -> dict:
        """Every point, from ``autograder.score``: a clean process that calls the student's answer
        cells in their own sandboxed process (never their kernel). ``{}`` when it failed."""
        if not subs:
            return {}
        env = self._env(runtime, uid)
        if self.sandboxed:
            command = [sys.executable, "-m", "autograder.sandbox", "answers"]
        else:
            command = [sys.executable, "-m", "autograder.answers"]
            env["PYTHONPATH"] = str(self.stage)  # the public grading modules only
        request = {"notebooks": {s.notebook: str(course / "submitted" / student / s.notebook / f"{s.notebook}.ipynb")
                                 for s in subs},
                   "command": command, "cwd": str(work), "call_timeout": self.options.cell_timeout,
                   "sandboxed": self.sandboxed,
                   "budget": self.options.notebook_timeout,
                   # only what differs from the scorer's own environment (which is not written to disk)
                   "env": {k: v for k, v in env.items() if os.environ.get(k) != v}}
        (course / "score-request.json").write_text(json.dumps(request))
        result = course / "score-result.json"
        scorer_env = course_env(OMP_NUM_THREADS=env["OMP_NUM_THREADS"])
        try:
            proc = subprocess.run([sys.executable, "-m", "autograder.score", str(course / "score-request.json"),
                                   str(result)], env=scorer_env, cwd=course, capture_output=True, text=True,
                                  timeout=self.options.notebook_timeout * len(subs) + HARD_TIMEOUT_GRACE)
        except subprocess.TimeoutExpired:
            return {}
        if proc.returncode != 0 or not result.exists():
            (course / "score.log").write_text((proc.stdout + proc.stderr)[-200_000:])  # for the instructor
            return {}
        return json.loads(result.read_text())

    def _report(self, course: Path, sub: Submission, status: str, message: str, scores: dict) -> NotebookGrade:
        """The notebook's grade from the scorer's points; the kernel's outputs of the graded cells
        are replaced by the scorer's, and its points written to the gradebook, for the feedback."""
        maxima = max_points(sub.notebook)
        score = scores.get(sub.notebook)
        if sub.status != "graded":
            return NotebookGrade.from_cells(sub.student, sub.notebook, {}, maxima, status, message)
        if not score:
            return NotebookGrade.from_cells(sub.student, sub.notebook, {}, maxima, "error",
                                            "; ".join(filter(None, [message, "scoring failed: every cell scores 0 "
                                                                "(the grader's log: work/<student>/score.log)"])))
        cells = {gid: float(c["points"]) for gid, c in score["cells"].items() if gid in maxima}
        problems = [f"{gid}: {c['problem']}" for gid, c in score["cells"].items() if c.get("problem")]
        message = "; ".join(filter(None, [message, *score.get("notes", []), *problems]))
        autograded = self._autograded(course, sub)
        nb = _read_notebook(autograded)  # None: no run to show (nbgrader failed)
        if nb is not None:
            for cell in nb.cells:
                if grade_id_of(cell) in score["cells"] and cell.cell_type == "code":
                    cell.outputs = [nbformat.from_dict(o) for o in score["cells"][grade_id_of(cell)]["outputs"]]
            nbformat.write(nb, autograded)
            record_scores(course, sub.student, sub.notebook, cells)
        return NotebookGrade.from_cells(sub.student, sub.notebook, cells, maxima, status, message)

    def _feedback(self, course: Path, student: str, grades: list[NotebookGrade]) -> None:
        """One nbgrader generate_feedback for all of a student's autograded notebooks (one process
        start instead of one per notebook), then a status banner on top, or a plain page where
        nbgrader had nothing to show."""
        why = "nbgrader had no run of this notebook to show"
        if (course / "autograded" / student).is_dir() and any((course / "autograded" / student).iterdir()):
            try:
                proc = nbgrader(course, "generate_feedback", "*", f"--student={student}", "--force",
                                env=course_env(), timeout=self.options.notebook_timeout, check=False)
                if proc.returncode != 0:
                    (course / "feedback.log").write_text(proc.stdout[-200_000:])  # for the instructor
                    why = _nbgrader_error(proc.stdout).replace("could not grade", "could not make the feedback of")
            except subprocess.TimeoutExpired:
                why = f"nbgrader's feedback did not finish in {self.options.notebook_timeout} s"
        for grade in grades:
            out = self.out / "feedback" / grade.student / f"{grade.notebook}.html"
            made = course / "feedback" / grade.student / grade.notebook / f"{grade.notebook}.html"
            try:
                text = read_bytes(made, MAX_FEEDBACK_BYTES).decode("utf-8", "replace")
            except UnsafeFile:
                text = None
            if text is not None:
                if grade.message:
                    banner = f'<div style="background:#fff3cd;padding:1em"><b>{html.escape(grade.status)}</b>: {html.escape(grade.message)}</div>'
                    text = text.replace("<body>", "<body>" + banner, 1)
                write_atomic(out, text)
            else:
                write_atomic(out, f"<html><body><h1>{html.escape(grade.notebook)}: {html.escape(grade.status)}</h1>"
                                  f"<p>{html.escape(grade.message or 'no feedback')}</p>"
                                  f"<p>No feedback page: {html.escape(why)}.</p>"
                                  f"<p>Points: {grade.total:g} / {grade.max_total:g}</p></body></html>")


KNOWN_ERRORS = {
    "DeadKernelError": "the kernel died (out of memory, or the process was killed)",
    "Kernel died": "the kernel died (out of memory, or the process was killed)",
    "MemoryError": "out of memory",
    "CellTimeoutError": "a cell ran out of time",
}


def _nbgrader_error(output: str) -> str:
    """One sentence for the student from nbgrader's log of a failed autograde."""
    for key, sentence in KNOWN_ERRORS.items():
        if key in output:
            return sentence
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "nbgrader could not grade this notebook: " + (lines[-1][:300] if lines else "no output")


def _read_notebook(path: Path) -> nbformat.NotebookNode | None:
    """An autograded notebook (nbgrader's output), read safely; None when there is none to read."""
    try:
        return nbformat.reads(read_bytes(path, MAX_FEEDBACK_BYTES).decode("utf-8"), as_version=4)
    except (UnsafeFile, UnicodeDecodeError, ValueError):
        return None


def _cell_name(cell, index: int) -> str:
    """A graded cell by its grade id, any other by its number and first line (what a student can find)."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return grade_id_of(cell) or f"cell {index + 1} ({first[:40]!r})"


def _run_problems(nb, options: Options) -> tuple[str, str]:
    """(status, message) of an autograded notebook, from the errors that mark how its run went wrong."""
    found: dict[str, list[str]] = {}
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error" and output.get("ename") in RUN_PROBLEMS:
                found.setdefault(output["ename"], []).append(_cell_name(cell, index))
    messages = []
    if found.get(KERNEL_DIED):
        messages.append(f"the kernel died in {', '.join(found[KERNEL_DIED])} (exit() or os._exit(), or the "
                        "process was killed); the cells after it ran in a new kernel")
    if found.get(CELL_TIMEOUT):
        messages.append(f"cell(s) ran out of time ({options.cell_timeout} s a cell at most): "
                        f"{', '.join(dict.fromkeys(found[CELL_TIMEOUT]))}")
    if found.get(NOT_RUN):
        messages.append(f"the notebook used up its {options.notebook_timeout} s: "
                        f"{len(found[NOT_RUN])} cell(s) from {found[NOT_RUN][0]} on were not run")
    if found.get(OUTPUT_TOO_LARGE):
        cells = list(dict.fromkeys(found[OUTPUT_TOO_LARGE]))
        messages.append(f"output too large in {', '.join(cells[:3])}{' and later cells' if len(cells) > 3 else ''}: "
                        "it was cut (the points do not depend on it)")
    status = ("error" if KERNEL_DIED in found else "timeout" if CELL_TIMEOUT in found or NOT_RUN in found
              else OUTPUT_STATUS if found else "graded")
    return status, "; ".join(messages)


def grade_class(submissions: Path, out: Path, options: Options | None = None, progress: bool = True,
                shard: tuple[int, int] | None = None):
    """Grade every notebook of every student (of ``shard`` only: see ``in_shard``); return (grades,
    unmapped files)."""
    from course_lib.runtime import progress as bar

    options = options or Options()
    grader = Grader(out, options)
    if grader.out.is_relative_to(submissions.resolve()):
        raise ValueError(f"the results folder {out} must not be inside the submissions {submissions}")
    root = unpack(submissions.resolve(), grader.work / "_incoming")  # first: a bad path fails at once
    try:
        releases = grader.prepare(assignment_ids())
        shutil.rmtree(grader.work / "_copies", ignore_errors=True)
        collected = collect(root, releases, grader.work / "_copies")
        by_student: dict[str, list[Submission]] = {}
        for sub in collected.submissions:
            if in_shard(sub.student, shard):
                by_student.setdefault(sub.student, []).append(sub)
        uids: queue.Queue[int] = queue.Queue()
        for k in range(options.workers):
            uids.put(FIRST_SANDBOX_UID + k)

        def work(student):
            uid = uids.get()
            try:
                return grader.grade_student(student, by_student[student], releases, uid)
            finally:
                uids.put(uid)

        grades: list[NotebookGrade] = []
        write_csv([], collected.unmapped, grader.out)
        with ThreadPoolExecutor(options.workers) as pool:
            futures = {pool.submit(work, s): s for s in sorted(by_student)}
            for future in bar(as_completed(futures), total=len(futures), desc="grading", unit="student",
                              disable=not progress):
                student = futures[future]
                try:
                    graded = future.result()
                except Exception as exc:  # a bug of the grader's, or the machine: this student only
                    graded = _grader_failed(grader, student, by_student[student], exc)
                grades += graded
                write_csv(graded, collected.unmapped, grader.out)  # each student's grades as soon as known
    finally:
        grader.close()
    grades.sort(key=lambda g: (g.student, g.notebook))
    return grades, collected.unmapped


def _grader_failed(grader: Grader, student: str, subs: list[Submission], exc: Exception) -> list[NotebookGrade]:
    """Rows for a student whose grading raised: zero, status error, the reason; the log for the instructor."""
    import traceback

    log = grader.work / student / "grader.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        pass
    message = (f"the grader failed on this notebook ({type(exc).__name__}: {str(exc)[:200]}); "
               "the instructor's log: work/<student>/grader.log")
    return [NotebookGrade.from_cells(student, sub.notebook, {}, max_points(sub.notebook), "error", message)
            for sub in subs]


GRADES_FIXED = ["student", "notebook", "status", "total", "max_total"]


def read_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of ``out/grades.csv`` by (student, notebook); none when there is no such file."""
    path = out / "grades.csv"
    return {(r["student"], r["notebook"]): r for r in csv.DictReader(path.open())} if path.exists() else {}


def write_rows(rows: dict[tuple[str, str], dict[str, str]], unmapped: list[tuple[str, str]], out: Path) -> None:
    """``grades.csv`` (a row per student and notebook, sorted; the exercise columns sorted by name)
    and ``unmapped.csv``."""
    exercises = sorted({k for r in rows.values() for k in r if k not in GRADES_FIXED + ["message"]})
    grades, files = io.StringIO(newline=""), io.StringIO(newline="")
    writer = csv.DictWriter(grades, [*GRADES_FIXED, *exercises, "message"], restval="")
    writer.writeheader()
    writer.writerows(rows[key] for key in sorted(rows))
    listing = csv.writer(files)
    listing.writerow(["file", "reason"])
    listing.writerows(sorted(set(map(tuple, unmapped))))
    write_atomic(out / "grades.csv", grades.getvalue())  # a kill mid-write keeps the previous file
    write_atomic(out / "unmapped.csv", files.getvalue())


def write_csv(grades: list[NotebookGrade], unmapped: list[tuple[str, str]], out: Path) -> None:
    """Write grades.csv: this run's rows replace earlier rows of the same student and notebook,
    rows of students not graded in this run stay (a partial re-run loses nobody's grade)."""
    rows = read_rows(out)
    for g in grades:
        rows[g.student, g.notebook] = {"student": g.student, "notebook": g.notebook, "status": g.status,
                                       "total": f"{g.total:g}", "max_total": f"{g.max_total:g}", "message": g.message,
                                       **{ex: f"{points:g}" for ex, points in g.exercises.items()}}
    write_rows(rows, unmapped, out)


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    """Shard ``(k, n)`` (1-based) holds the students whose id hashes to ``k - 1`` modulo ``n``: a split
    that is the same on every machine and for every run, whatever else the class holds."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n == k - 1


def parse_shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"--shard wants K/N with 1 <= K <= N, not {text!r}")
    return int(k), int(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="a zip file or a folder of submissions")
    parser.add_argument("--out", type=Path, required=True, help="results folder (grades.csv, feedback/)")
    defaults = Options()
    parser.add_argument("--workers", type=int, default=defaults.workers, help="students graded at once")
    parser.add_argument("--timeout", type=int, default=defaults.notebook_timeout, help="seconds per notebook")
    parser.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell")
    parser.add_argument("--sandbox", choices=["auto", "on", "off"], default=defaults.sandbox)
    parser.add_argument("--memory-gb", type=float, default=defaults.memory_gb, help="memory limit of a kernel")
    parser.add_argument("--shard", type=parse_shard, help="K/N: grade only shard K of N (a stable split by "
                                                          "student id); merge the shards with autograder.merge")
    args = parser.parse_args(argv)
    options = Options(workers=args.workers, notebook_timeout=args.timeout, cell_timeout=args.cell_timeout,
                      sandbox=args.sandbox, memory_gb=args.memory_gb)
    if not options.use_sandbox():
        print("WARNING: grading WITHOUT the sandbox (needs bubblewrap, prlimit and root): "
              "submissions run with your permissions and network.", file=sys.stderr)
    try:
        grades, unmapped = grade_class(args.submissions, args.out, options, shard=args.shard)
    except ValueError as exc:  # the submissions path: missing, not a zip, too big unpacked, contains --out
        parser.error(str(exc))
    print(table(grades))
    if unmapped:
        print(f"\n{len(unmapped)} file(s) not mapped to a student and a notebook:")
        for path, reason in unmapped:
            print(f"  {path}: {reason}")
    print(f"\nwrote {args.out / 'grades.csv'} and {len(grades)} feedback file(s) in {args.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
