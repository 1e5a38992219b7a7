"""The class run and the per-student job: each student's notebooks go through collect, execute,
score and report (one module per step), students graded in parallel, each in an nbgrader course
folder and gradebook of their own.

``grade_class`` is the whole run (``python -m autograder.pipeline``); ``Grader.grade_student`` one
student's job; ``release_once`` the class's one nbgrader generate, cached per version of the sources.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbgrader
from tqdm.std import tqdm  # text on stderr: the grader's process imports no torch (Gradescope's 768 MB)

from autograder import processes
from autograder.paths import CONFIG, ROOT, assignment_ids
from autograder.pipeline import oom, statuses
from autograder.pipeline.class_report import write_class_report
from autograder.pipeline.collect import Submission, collect, unpack
from autograder.pipeline.execute import run_notebooks
from autograder.pipeline.job import Job, Options, UidLeases
from autograder.pipeline.report import (
    NotebookGrade,
    grade_of,
    max_points,
    write_csv,
    write_details,
    write_feedback,
    write_run,
)
from autograder.pipeline.score import call_timeouts, run_scorer
from autograder.pipeline.shards import in_shard
from autograder.release import generate
from autograder.sandboxed import launcher


class Grader:
    """The pipeline for one class: one nbgrader generate, then each student's job."""

    def __init__(self, out: Path, options: Options):
        self.out, self.options = out.resolve(), options
        self.work = self.out / "work"
        self.template = self.work / "_template"
        self.temporary: Path | None = None  # the run's folder outside the results, made by prepare()
        self.stage: Path | None = None  # in it: what the sandboxes mount
        self.leases: UidLeases | None = None  # the workers' uids, taken by grade_class
        self.mode = options.sandbox_mode()

    @property
    def kernelspecs(self) -> Path:
        """The sandbox's kernelspec folder (JUPYTER_PATH), in the run's temporary folder."""
        assert self.temporary is not None, "prepare() first"
        return self.temporary / "jupyter"

    def close(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
        if self.leases is not None:
            self.leases.close()

    def prepare(self, notebook_ids: list[str]) -> dict[str, nbformat.NotebookNode]:
        """One nbgrader generate for the class; every student's course folder copies its gradebook."""
        shutil.rmtree(self.template, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o700)  # the course folders hold the solutions: the instructor's alone
        released = release_once(self.template, notebook_ids)
        # A folder of this run's own, outside the results: what the sandboxes mount read-only (the
        # public grading modules, course_lib), so that no path of the results is shown inside; and
        # the sandbox's kernelspec, as JUPYTER_PATH is a list split at ':', which the results'
        # path may hold ("fall: 2026").
        self.temporary = Path(tempfile.mkdtemp(prefix=launcher.STAGE_PREFIX))
        self.temporary.chmod(0o755)  # nothing secret in it; the uid mode's student reads the modules
        self.stage = launcher.stage_public_modules(ROOT, self.temporary / "modules")
        if self.mode is not None:  # root's alone: the uid mode's student sees this machine's /tmp
            self.kernelspecs.mkdir(mode=0o700)
            launcher.install_kernelspec(self.kernelspecs)
        return {nb_id: nbformat.read(path, as_version=4) for nb_id, path in released.items()}

    def _job(self, student: str, runtime: Path, work: Path, uid: int) -> Job:
        """The student's job, with a course folder of their own (the class's gradebook and sources)."""
        assert self.stage is not None, "prepare() first"
        course = self.work / student
        shutil.rmtree(course, ignore_errors=True)
        course.mkdir(parents=True)
        shutil.copy2(self.template / "gradebook.db", course / "gradebook.db")
        shutil.copytree(self.template / "source", course / "source")
        job = Job(student, course, runtime, work, uid, self.options, self.stage, self.kernelspecs, self.mode)
        (course / "nbgrader_config.py").write_text(job.nbgrader_config())
        (course / "autograded" / student).mkdir(parents=True)
        return job

    def grade_student(self, student: str, subs: list[Submission], releases: dict, uid: int) -> list[NotebookGrade]:
        """Execute, score and report every notebook of one student, in a course folder of their own."""
        # The kernel's sockets (a short path: a Unix socket's path must fit in 108 bytes, which a deep
        # results folder and a long student id can exceed), and where the unsandboxed answers
        # process starts (the sandboxed one works in a memory folder of its own).
        temporary = Path(tempfile.mkdtemp(prefix=launcher.RUNTIME_PREFIX))
        runtime, work = temporary / "run", temporary / "work"
        for folder in (runtime, work):
            folder.mkdir(mode=0o700)
        timings: dict[str, float] = {}  # where a student's time goes: work/<student>/timings.json

        def timed(name, step, *args):
            start = time.perf_counter()
            try:
                return step(*args)
            finally:
                timings[name] = round(time.perf_counter() - start, 2)

        if self.mode == launcher.UID:  # nothing of an earlier run or student of this uid is left
            launcher.clear_uid(uid)
        try:
            job = self._job(student, runtime, work, uid)
            memory = oom.now()
            runs = timed("execute", run_notebooks, job, subs, releases)
            scored = [s for s in subs if s.status == statuses.GRADED]
            scores = timed("score", run_scorer, job, scored, call_timeouts(job, scored, runs))
            grades = [grade_of(job, sub, runs[sub.notebook], scores) for sub in subs]
            ran_out = oom.killed_since(memory)  # the machine's limit, not the student's code, killed a process
            if ran_out:
                print(f"{student}: {ran_out}", flush=True)  # the instructor's log (Gradescope's stdout)
                for grade in grades:
                    grade.out_of_memory = True
                    grade.message = "; ".join(filter(None, [ran_out, grade.message]))
            timed("feedback", write_feedback, job, grades, self.out / "feedback")
            (job.course / "timings.json").write_text(json.dumps(timings))
            own = sum(grade.seconds for grade in grades)  # the scorer times each notebook
            shared = max(sum(timings.values()) - own, 0.0) / len(grades) if grades else 0.0
            for grade in grades:  # nbgrader's runs and the processes' starts are shared out evenly
                grade.seconds = round(grade.seconds + shared, 2)
            return grades
        finally:
            if self.mode == launcher.UID:
                launcher.clear_uid(uid)  # no PID or mount namespace ends what the student's code left
            shutil.rmtree(temporary, ignore_errors=True)


def release_once(template: Path, notebook_ids: list[str]) -> dict[str, Path]:
    """nbgrader's generate of the notebooks into ``template``, made once per version of the sources
    and kept (``build/.release-cache``, else a temporary folder): the same solutions and settings
    always give the same release, and it costs about 20 s."""
    key = hashlib.sha256(nbgrader.__version__.encode())
    sources = [CONFIG, ROOT / "autograder" / "release" / "__init__.py"]
    for path in [*sources, *(ROOT / "solutions" / f"{nb}.ipynb" for nb in notebook_ids)]:
        key.update(path.name.encode() + path.read_bytes())
    for base in (ROOT / "build" / ".release-cache", Path(tempfile.gettempdir()) / "course-release-cache"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            break
        except OSError:
            continue
    cached = base / key.hexdigest()[:16]
    if not (cached / "gradebook.db").exists():
        fresh = Path(tempfile.mkdtemp(prefix="release-", dir=base))
        try:
            generate(fresh, notebook_ids)
        except BaseException:  # failed, or the run stopped: no half-made release is left
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        try:
            fresh.rename(cached)  # whole or not at all (another run may have made it meanwhile)
        except OSError:
            shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(cached, template)
    return {nb: template / "release" / nb / f"{nb}.ipynb" for nb in notebook_ids}


@dataclass
class ClassRun:
    """What a class run gave: the grades, the files matched to nothing (path, why), and every
    notebook found per student (before the shard and the ``notebooks`` filter). It unpacks as
    ``grades, unmapped``."""

    grades: list[NotebookGrade]
    unmapped: list[tuple[str, str]]
    found: dict[str, list[str]]

    def __iter__(self) -> Iterator:
        return iter((self.grades, self.unmapped))


def grade_class(
    submissions: Path,
    out: Path,
    options: Options | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    notebooks: list[str] | None = None,
    report: bool = True,
    roster: Path | None = None,
) -> ClassRun:
    """Grade every notebook of every student (of ``shard`` only: see ``shards.in_shard``; of
    ``notebooks`` only). Each student's rows reach ``out/grades.csv`` as soon as they are known;
    at the end, the class report and the LMS files (``class_report``; ``roster``: the class's)."""
    options = options or Options()
    started = time.time()
    processes.allow()  # an earlier run in this process stopped and interrupted again before its end
    grader = Grader(out, options)
    if grader.out.is_relative_to(submissions.resolve()):
        raise ValueError(f"the results folder {out} must not be inside the submissions {submissions}")
    if grader.mode == launcher.UID:
        # Without a mount namespace the student's code sees the machine: the other students'
        # notebooks and the results (feedback pages, grades.csv) must be closed to its uid too.
        if not launcher.locked(submissions):
            raise SystemExit(
                f"--sandbox uid: the submissions {submissions} can be read by any uid: chmod 700 them "
                "(or their folder) first, else a student's code reads the others' answers"
            )
        grader.out.mkdir(parents=True, exist_ok=True)
        grader.out.chmod(0o700)
    root, skipped = unpack(submissions.resolve(), grader.work / "_incoming")  # first: a bad path fails at once
    try:
        releases = grader.prepare(assignment_ids())
        shutil.rmtree(grader.work / "_copies", ignore_errors=True)
        collected = collect(root, releases, grader.work / "_copies", options.two_files)
        collected.unmapped += skipped
        by_student: dict[str, list[Submission]] = {}
        for sub in collected.submissions:
            if in_shard(sub.student, shard) and (notebooks is None or sub.notebook in notebooks):
                by_student.setdefault(sub.student, []).append(sub)
        leases = UidLeases(options.workers)  # held until the run ends (grader.close)
        grader.leases = leases
        uids: queue.Queue[int] = queue.Queue()
        for uid in leases.uids:
            uids.put(uid)

        def work(student):
            uid = uids.get()
            try:
                return grader.grade_student(student, by_student[student], releases, uid)
            finally:
                uids.put(uid)

        grades: list[NotebookGrade] = []
        write_csv([], collected.unmapped, grader.out)
        failed = 0  # students with a notebook not graded as it should (a status other than graded)
        with (
            ThreadPoolExecutor(options.workers) as pool,
            tqdm(total=len(by_student), desc="grading", unit="student", disable=not progress, mininterval=0.5) as bar,
        ):  # students done, the time left (tqdm's estimate), and how many failed so far
            futures = {pool.submit(work, s): s for s in sorted(by_student)}
            try:
                for future in as_completed(futures):
                    student = futures[future]
                    try:
                        graded = future.result()
                    except Exception as exc:  # a bug of the grader's, or the machine: this student only
                        graded = _grader_failed(grader, student, by_student[student], exc)
                    grades += graded
                    write_csv(graded, collected.unmapped, grader.out)  # each student's grades as soon as known
                    write_details(graded, grader.out)  # what the class report reads, beside them
                    failed += any(g.status != statuses.GRADED for g in graded)
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.update()
            except BaseException:  # Ctrl-C, SIGTERM (the command's main): stop now, not after the queue
                pool.shutdown(wait=False, cancel_futures=True)  # the students not started: none
                processes.stop_all()  # the students being graded: their processes (each step then stops)
                pool.shutdown(wait=True)  # their threads end at their next process
                processes.allow()  # none is left to start one (a second interrupt above skips this)
                raise
        write_run(grader.out, started, grader.mode, options.workers, shard, len(by_student))
    finally:
        grader.close()
    grades.sort(key=lambda g: (g.student, g.notebook))
    if report:
        try:
            write_class_report(grader.out, roster)
        except Exception as exc:  # the grades are written: a report that fails costs the report only
            print(
                f"no class report: {type(exc).__name__}: {exc} (python -m autograder.pipeline.class_report "
                f"{grader.out} makes it again)",
                file=sys.stderr,
            )
    found: dict[str, list[str]] = {}
    for sub in collected.submissions:
        found.setdefault(sub.student, []).append(sub.notebook)
    return ClassRun(grades, collected.unmapped, found)


def _grader_failed(grader: Grader, student: str, subs: list[Submission], exc: Exception) -> list[NotebookGrade]:
    """Rows for a student whose grading raised: zero, status error, the reason; the log for the instructor."""
    log = grader.work / student / "grader.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        pass
    message = (
        f"the grader failed on this notebook ({type(exc).__name__}: {str(exc)[:200]}); "
        "the instructor's log: work/<student>/grader.log"
    )
    return [
        NotebookGrade.from_cells(student, sub.notebook, {}, max_points(sub.notebook), statuses.ERROR, message)
        for sub in subs
    ]
