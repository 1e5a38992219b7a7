"""What a grading run is given and what one student's job holds, each setting declared once.

``Options`` are the settings an instructor chooses (the command line, Slurm's tasks and Gradescope's
run all make theirs from it: each field's default and help are written here only); the fixed
limits beside them are the grader's own. ``Job`` is one student's grading: their nbgrader course
folder, their sandbox and the environment of the processes that run their code. ``UidLeases``
hands out the sandbox's throw-away uids, one per worker, locked against another run on the machine.
"""

from __future__ import annotations

import enum
import fcntl
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from autograder import processes
from autograder.paths import CONFIG, ROOT, course_env
from autograder.sandboxed import launcher


class Sandbox(str, enum.Enum):
    """How an instructor asks the student's code to be run (``--sandbox``)."""

    AUTO = "auto"  # bwrap's namespaces where they can be made; else the uid mode where it can run; else off
    ON = "on"  # bwrap's namespaces, or refuse to grade
    UID = "uid"  # a throw-away uid and prlimit only (a container that forbids namespaces)
    OFF = "off"  # unprotected: the student's code runs with the grader's permissions


class TwoFiles(str, enum.Enum):
    """What is graded when a student handed in two files for one notebook (``--two-files``)."""

    NEWER = "newer"  # the newer: nbgrader's timestamp.txt beside it, else the file's time
    REFUSE = "refuse"  # neither, unless they are the same: a zero that lists them (Gradescope keeps no file times)


def _help(text: str, flag: str | None = None) -> dict:
    return {"help": text, "flag": flag}


@dataclass
class Options:
    """The settings of a grading run; ``add_arguments`` makes the command line's options from them."""

    workers: int = field(default=os.cpu_count() or 1, metadata=_help("students graded at once"))
    notebook_timeout: int = field(
        default=600, metadata=_help("seconds for one notebook, kernel start to last cell", "--timeout")
    )
    cell_timeout: int = field(default=120, metadata=_help("seconds for one cell (and for one call of the scorer)"))
    sandbox: Sandbox = field(
        default=Sandbox.AUTO,
        metadata=_help(
            "auto: bwrap's namespaces where they can be made, else a throw-away uid where it can run (root, prlimit, "
            "the secrets closed), else none; on: namespaces or stop; uid: a throw-away uid only; off: none "
            "(docs/grading.md)"
        ),
    )
    two_files: TwoFiles = field(
        default=TwoFiles.NEWER,
        metadata=_help(
            "two files for one notebook of a student: newer: grade the newer (nbgrader's timestamp.txt beside it, "
            "else the file's time); refuse: grade neither, unless they are the same, and say which they are"
        ),
    )
    memory_gb: float = field(default=4.0, metadata=_help("memory limit of a process that runs a student's code"))
    cpu_seconds: int = field(default=900, metadata=_help("CPU seconds limit of a process that runs a student's code"))

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(self.sandbox)  # the command line gives their names
        self.two_files = TwoFiles(self.two_files)

    def sandbox_mode(self) -> str | None:
        """The mode the student's code runs in: ``launcher.NAMESPACES``, ``launcher.UID`` or None (off)."""
        return sandbox_mode(self.sandbox)

    def use_sandbox(self) -> bool:
        return self.sandbox_mode() is not None


def add_arguments(parser) -> None:
    """One command-line option per field of ``Options`` (its default and help from there)."""
    for f in fields(Options):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, enum.Enum):
            choices = [member.value for member in type(default)]
            parser.add_argument(flag, dest=f.name, choices=choices, default=default.value, help=f.metadata["help"])
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, help=f.metadata["help"])


def options_from(args) -> Options:
    return Options(**{f.name: getattr(args, f.name) for f in fields(Options)})


# The grader's own limits (not settings): each in one place.
# (The limits on a run's output live with the code that enforces them, in nbgrader's process:
# autograder.nbgrader_process.marks.)
HARD_TIMEOUT_GRACE = 60  # seconds nbgrader and the scorer get past their notebooks' budgets before they are killed
SLOW_CALL_TIMEOUT = 10  # seconds for a scorer's call where the student's code ran out of time in the kernel

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


def secrets_closed() -> bool:
    """Whether every secret that exists is closed to other uids (what the uid mode needs)."""
    return all(launcher.locked(p) for p in SECRETS if p.exists())


def sandbox_mode(choice: Sandbox) -> str | None:
    """What ``choice`` means on this machine (the one definition, for every way of grading)."""
    if choice is Sandbox.OFF:
        return None
    if choice in (Sandbox.ON, Sandbox.AUTO) and launcher.available():
        return launcher.NAMESPACES
    if choice is Sandbox.ON:
        raise SystemExit(
            "--sandbox on needs bubblewrap and prlimit (apt-get install bubblewrap) where bwrap can make "
            "namespaces (user namespaces for a user that is not root)"
        )
    if choice is Sandbox.AUTO:
        return launcher.UID if launcher.uid_mode_available() and secrets_closed() else None
    if not launcher.uid_mode_available():
        raise SystemExit(
            "--sandbox uid needs prlimit, root (to give the code a throw-away uid), a Python that other uids can run "
            "and seccomp (to refuse the code the network)"
        )
    (ROOT / "build").mkdir(mode=0o700, exist_ok=True)  # made closed, not 0755 by the release
    open_ = [str(p) for p in SECRETS if p.exists() and not launcher.locked(p)]
    if open_:
        raise SystemExit(
            f"--sandbox uid: {', '.join(open_)} can be read by any uid (chmod 700 them first: "
            "without namespaces, file permissions are what keeps them from the student's code)"
        )
    return launcher.UID


FIRST_SANDBOX_UID = 61000
SANDBOX_UIDS = 184  # 61000-61183: below systemd's dynamic users (61184-65519)
UID_LEASES = Path("/run/course-grading-uids")  # root's: one lock file per throw-away uid in use


class UidLeases:
    """Throw-away uids for the workers of one grading run, each held with a lock (``flock``) for
    as long as the run lasts, so that two runs on one machine (two shards, a test beside a class)
    never share a uid: killing a uid's processes, as the uid mode does after each student, then
    never reaches another run's student. Without root no uid is switched to, none is leased."""

    def __init__(self, count: int):
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
class Job:
    """One student's grading: their course folder (nbgrader's), where their kernels' sockets are,
    the sandbox's uid, and how to start the processes that run their code."""

    student: str
    course: Path  # work/<student>: nbgrader's course folder of this student alone
    runtime: Path  # the kernels' sockets and connection files (root's, 0700, a short path)
    work: Path  # where the unsandboxed answers process starts
    uid: int
    options: Options
    stage: Path  # what the sandboxes mount: autograder/sandboxed and course_lib
    jupyter: Path  # the sandbox's kernelspec
    mode: str | None = None  # launcher.NAMESPACES or launcher.UID when sandboxed, None when not

    def env(self) -> dict[str, str]:
        """The environment of a process that runs the student's code (in the sandbox, when on)."""
        # Notebooks graded side by side share the cores: torch gets its share, not all of them.
        threads = processes.cores_each(self.options.workers)
        env = course_env(JUPYTER_RUNTIME_DIR=str(self.runtime), OMP_NUM_THREADS=str(threads))
        if self.mode is not None:
            env["JUPYTER_PATH"] = str(self.jupyter)
            env.update(
                launcher.sandbox_env(
                    runtime=self.runtime,
                    stage=self.stage,
                    uid=self.uid,
                    memory=int(self.options.memory_gb * 1024**3),
                    cpu_seconds=self.options.cpu_seconds,
                    mode=self.mode,
                )
            )
        return env

    def kill_leftovers(self) -> None:
        """At a deadline: every process of the student's code. bwrap's namespaces end with their
        first process (killed with its group); the uid mode has no PID namespace, so every process of
        the throw-away uid is killed (one that ``setsid`` took out of the group too)."""
        if self.mode == launcher.UID:
            launcher.kill_uid(self.uid)

    def submitted(self, notebook: str) -> Path:
        return self.course / "submitted" / self.student / notebook / f"{notebook}.ipynb"

    def autograded(self, notebook: str) -> Path:
        return self.course / "autograded" / self.student / notebook / f"{notebook}.ipynb"

    def nbgrader_config(self) -> str:
        """The student's nbgrader settings: the course's, and this run's limits (set here only)."""

        config = CONFIG.read_text() + (
            f"\nc.Execute.timeout = {self.options.cell_timeout}\n"
            f"c.GradingExecute.notebook_timeout = {self.options.notebook_timeout}\n"
            # in the student's runtime folder (removed after them), not a temporary file of the
            # machine's, which a run stopped from outside would leave behind
            f"c.KernelManager.connection_file = {str(self.runtime / 'kernel.json')!r}\n"
        )
        if self.mode is not None:
            config += (
                f"c.Execute.kernel_name = {launcher.KERNEL_NAME!r}\n"
                "c.KernelManager.transport = 'ipc'\n"
                f"c.KernelManager.ip = {str(self.runtime / 'kernel')!r}\n"
            )
        return config
