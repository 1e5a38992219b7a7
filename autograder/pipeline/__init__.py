"""The grading pipeline: every student's notebooks go through collect, execute, score and report.

    python -m autograder.pipeline SUBMISSIONS --out RESULTS [--workers N] [--shard K/N]
    python -m autograder.grade ...          # the same command, by its older name

One module per step, in the order they run:

1. ``collect``: find each student's notebooks in a zip or a folder, read them safely (``files``),
   repair what the student broke;
2. ``execute``: nbgrader's autograde runs them in the sandboxed kernel, for the feedback and the
   status (``statuses``); no point comes from it;
3. ``score``: every point, from a clean process that calls the student's answer cells in an answers
   process of their own (``answers_client``) and measures from outside (``remote_bench``, ``shared``);
4. ``report``: grades.csv (each student's rows as soon as known), the gradebook, the feedback.

``shards`` splits a class across machines and merges the results. This module holds the
per-student job (``Grader.grade_student``) and ``grade_class``; ``docs/grading.md`` tells the whole
story (what runs where, and what the sandbox does and does not protect).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.paths import CONFIG, ROOT, assignment_ids, course_env
from autograder.pipeline import statuses
from autograder.pipeline.collect import Submission, collect, unpack
from autograder.pipeline.execute import run_notebooks
from autograder.pipeline.report import NotebookGrade, grade_of, max_points, write_csv, write_feedback
from autograder.release import generate
from autograder.sandboxed import launcher

FIRST_SANDBOX_UID = 61000
SANDBOX_UIDS = 184  # 61000-61183: below systemd's dynamic users (61184-65519)
UID_LEASES = Path("/run/course-grading-uids")  # root's: one lock file per throw-away uid in use


class UidLeases:
    """Throw-away uids for the workers of one grading run, each held with a lock (``flock``) for
    as long as the run lasts, so that two runs on one machine (two shards, a test beside a class)
    never share a uid: killing a uid's processes, as the uid mode does after each student, then
    never reaches another run's student. Without root no uid is switched to, none is leased."""

    def __init__(self, count: int):
        import fcntl

        self.fds: list[int] = []
        self.uids: list[int] = []
        if os.geteuid() != 0:
            self.uids = [FIRST_SANDBOX_UID + k for k in range(count)]  # not used: no privileges to drop
            return
        UID_LEASES.mkdir(mode=0o700, exist_ok=True)
        for uid in range(FIRST_SANDBOX_UID, FIRST_SANDBOX_UID + SANDBOX_UIDS):
            if len(self.uids) == count:
                break
            fd = os.open(UID_LEASES / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # another run's
                continue
            self.fds.append(fd)
            self.uids.append(uid)
        if len(self.uids) < count:
            self.close()
            raise SystemExit(
                f"no {count} free throw-away uids among {FIRST_SANDBOX_UID}-{FIRST_SANDBOX_UID + SANDBOX_UIDS - 1}: "
                "other grading runs on this machine hold them; use fewer --workers or wait"
            )

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)  # the lock goes with it
        self.fds = []


@dataclass
class Options:
    workers: int = os.cpu_count() or 1
    notebook_timeout: int = 600  # seconds for one notebook, kernel start to last cell
    cell_timeout: int = 120
    sandbox: str = "auto"  # auto: on when bwrap can make its namespaces; uid: see sandbox_mode
    memory_gb: float = 4.0
    cpu_seconds: int = 900

    def sandbox_mode(self) -> str | None:
        """How the student's code runs: in bwrap's namespaces (``on``; ``auto`` where they can be
        made), in ``uid`` mode (prlimit and a throw-away uid only, for a container that forbids
        namespaces: the course's secrets must be unreadable to others first), or unprotected (None)."""
        if self.sandbox == "off":
            return None
        if self.sandbox == "uid":
            if not launcher.uid_mode_available():
                raise SystemExit(
                    "--sandbox uid needs prlimit, root (to give the code a throw-away uid) and a Python that "
                    "other uids can run"
                )
            (ROOT / "build").mkdir(mode=0o700, exist_ok=True)  # made closed, not 0755 by the release
            open_ = [str(p) for p in SECRETS if p.exists() and not launcher.locked(p)]
            if open_:
                raise SystemExit(
                    f"--sandbox uid: {', '.join(open_)} can be read by any uid (chmod 700 them first: "
                    "without namespaces, file permissions are what keeps them from the student's code)"
                )
            return launcher.UID
        if launcher.available():
            return launcher.NAMESPACES
        if self.sandbox == "on":
            raise SystemExit(
                "--sandbox on needs bubblewrap and prlimit (apt-get install bubblewrap) where bwrap can make "
                "namespaces (user namespaces for a user that is not root)"
            )
        return None

    def use_sandbox(self) -> bool:
        return self.sandbox_mode() is not None


# What a student's code must not read: the reference solutions, the hidden checks, nbgrader's
# releases, and in a checkout of the repository its history, the fixture class's answers and the tests.
SECRETS = (
    ROOT / "solutions",
    ROOT / "autograder",
    ROOT / "build",
    ROOT / ".git",
    ROOT / "fixtures",
    ROOT / "tests",
)


@dataclass
class Job:
    """One student's grading: their course folder (nbgrader's), where their kernels' sockets are,
    the sandbox's uid, and how to start the processes that run their code."""

    student: str
    course: Path  # work/<student>: nbgrader's course folder of this student alone
    runtime: Path  # the kernels' sockets and connection files (root's, 0700, a short path)
    work: Path  # where the unsandboxed answers process starts
    uid: int
    options: Options
    sandboxed: bool
    stage: Path  # what the sandboxes mount: autograder/sandboxed and course_lib
    jupyter: Path  # the sandbox's kernelspec
    mode: str | None = None  # launcher.NAMESPACES or launcher.UID when sandboxed

    def env(self) -> dict[str, str]:
        """The environment of a process that runs the student's code (in the sandbox, when on)."""
        # Notebooks graded side by side share the cores: torch gets its share, not all of them.
        threads = max(1, (os.cpu_count() or 1) // self.options.workers)
        env = course_env(JUPYTER_RUNTIME_DIR=str(self.runtime), OMP_NUM_THREADS=str(threads))
        if self.sandboxed:
            env["JUPYTER_PATH"] = str(self.jupyter)
            env.update(
                launcher.sandbox_env(
                    runtime=self.runtime,
                    stage=self.stage,
                    uid=self.uid,
                    memory=int(self.options.memory_gb * 1024**3),
                    cpu_seconds=self.options.cpu_seconds,
                    mode=self.mode or launcher.NAMESPACES,
                )
            )
        return env

    def submitted(self, notebook: str) -> Path:
        return self.course / "submitted" / self.student / notebook / f"{notebook}.ipynb"

    def autograded(self, notebook: str) -> Path:
        return self.course / "autograded" / self.student / notebook / f"{notebook}.ipynb"


class Grader:
    """The pipeline for one class: one nbgrader generate, then each student's job."""

    def __init__(self, out: Path, options: Options):
        self.out, self.options = out.resolve(), options
        self.work = self.out / "work"
        self.template = self.work / "_template"
        self.stage: Path | None = None  # made by prepare()
        self.leases: UidLeases | None = None  # the workers' uids, taken by grade_class
        self.mode = options.sandbox_mode()
        self.sandboxed = self.mode is not None

    def close(self) -> None:
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
        if self.leases is not None:
            self.leases.close()

    def prepare(self, notebook_ids: list[str]) -> dict[str, nbformat.NotebookNode]:
        """One nbgrader generate for the class; every student's course folder copies its gradebook."""
        shutil.rmtree(self.template, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o700)  # the course folders hold the solutions: the instructor's alone
        released = release_once(self.template, notebook_ids)
        # What the sandboxes mount read-only (the public grading modules, course_lib): a folder of
        # this run's own, outside the results, so that no path of the results is shown inside.
        self.stage = launcher.stage_public_modules(ROOT, Path(tempfile.mkdtemp(prefix="grading-stage-")))
        if self.sandboxed:
            launcher.install_kernelspec(self.work / "_jupyter")
        return {nb_id: nbformat.read(path, as_version=4) for nb_id, path in released.items()}

    def _course_dir(self, student: str, runtime: Path) -> Path:
        course = self.work / student
        shutil.rmtree(course, ignore_errors=True)
        course.mkdir(parents=True)
        shutil.copy2(self.template / "gradebook.db", course / "gradebook.db")
        shutil.copytree(self.template / "source", course / "source")
        config = CONFIG.read_text() + (
            f"\nc.Execute.timeout = {self.options.cell_timeout}\n"
            f"c.GradingExecute.notebook_timeout = {self.options.notebook_timeout}\n"
        )
        if self.sandboxed:
            config += (
                f"c.Execute.kernel_name = {launcher.KERNEL_NAME!r}\n"
                "c.KernelManager.transport = 'ipc'\n"
                f"c.KernelManager.ip = {str(runtime / 'kernel')!r}\n"
            )
        (course / "nbgrader_config.py").write_text(config)
        return course

    def grade_student(self, student: str, subs: list[Submission], releases: dict, uid: int) -> list[NotebookGrade]:
        """Execute, score and report every notebook of one student, in a course folder of their own."""
        # The kernel's sockets (a short path: a Unix socket's path must fit in 108 bytes, which a deep
        # results folder and a long student id can exceed), and where the unsandboxed answers
        # process starts (the sandboxed one works in a memory folder of its own).
        temporary = Path(tempfile.mkdtemp(prefix="grade-"))
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
            job = Job(
                student,
                self._course_dir(student, runtime),
                runtime,
                work,
                uid,
                self.options,
                self.sandboxed,
                self.stage,
                self.work / "_jupyter",
                self.mode,
            )
            (job.course / "autograded" / student).mkdir(parents=True)
            from autograder.pipeline.score import run_scorer  # here: `python -m autograder.pipeline.score` runs it too

            runs = timed("execute", run_notebooks, job, subs, releases)
            scores = timed("score", run_scorer, job, [s for s in subs if s.status == statuses.GRADED])
            grades = [grade_of(job, sub, *runs[sub.notebook], scores) for sub in subs]
            timed("feedback", write_feedback, job, grades, self.out / "feedback")
            (job.course / "timings.json").write_text(json.dumps(timings))
            return grades
        finally:
            if self.mode == launcher.UID:
                launcher.clear_uid(uid)  # no PID or mount namespace ends what the student's code left
            shutil.rmtree(temporary, ignore_errors=True)


def release_once(template: Path, notebook_ids: list[str]) -> dict[str, Path]:
    """nbgrader's generate of the notebooks into ``template``, made once per version of the sources
    and kept (``build/.release-cache``, else a temporary folder): the same solutions and settings
    always give the same release, and it costs about 20 s."""
    import hashlib

    import nbgrader

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
        generate(fresh, notebook_ids)
        try:
            fresh.rename(cached)  # whole or not at all (another run may have made it meanwhile)
        except OSError:
            shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(cached, template)
    return {nb: template / "release" / nb / f"{nb}.ipynb" for nb in notebook_ids}


def grade_class(
    submissions: Path,
    out: Path,
    options: Options | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    notebooks: list[str] | None = None,
):
    """Grade every notebook of every student (of ``shard`` only: see ``shards.in_shard``); return
    (grades, unmapped files). Each student's rows reach ``out/grades.csv`` as soon as they are known."""
    from autograder.pipeline.shards import in_shard  # here: `python -m autograder.pipeline.shards` runs it too
    from course_lib.runtime import progress as bar

    options = options or Options()
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
    root = unpack(submissions.resolve(), grader.work / "_incoming")  # first: a bad path fails at once
    try:
        releases = grader.prepare(assignment_ids())
        shutil.rmtree(grader.work / "_copies", ignore_errors=True)
        collected = collect(root, releases, grader.work / "_copies")
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
        with ThreadPoolExecutor(options.workers) as pool:
            futures = {pool.submit(work, s): s for s in sorted(by_student)}
            for future in bar(
                as_completed(futures), total=len(futures), desc="grading", unit="student", disable=not progress
            ):
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
    message = (
        f"the grader failed on this notebook ({type(exc).__name__}: {str(exc)[:200]}); "
        "the instructor's log: work/<student>/grader.log"
    )
    return [
        NotebookGrade.from_cells(student, sub.notebook, {}, max_points(sub.notebook), statuses.ERROR, message)
        for sub in subs
    ]
