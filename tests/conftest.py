"""Shared set-up of the tests: the repository's packages importable, plots without a screen, and
the fixtures several test files use (a real Jupyter kernel)."""

import os
import shutil
import sys
import time
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # autograder, fixtures and pretrain live beside course_lib, uninstalled
sys.path.append(str(Path(__file__).resolve().parent))  # the tests' own helpers: analytic_envs, canary
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


class Kernel:
    """A Jupyter kernel as a notebook has one (``km``, ``kc``), and ``run`` for a cell."""

    def __init__(self):
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3")

    def __iter__(self):
        return iter((self.km, self.kc))

    def run(self, code: str, timeout: float = 120) -> tuple[str, str, str]:
        """Execute ``code``; return (status, text printed, error value)."""
        msg_id = self.kc.execute(code)
        out, error = [], ""
        deadline = time.time() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "error":
                error = content["evalue"] + "\n" + "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                return ("error" if error else "ok"), "".join(out), error

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


# The files that take longest, first: ``make test`` deals whole files to its two workers
# (``--dist loadfile``) in collection order (``--no-loadscope-reorder``: xdist would otherwise deal
# the files with the most tests first), so these start early and the short files fill the gaps at
# the end. The class test comes first, and beside it, on the other worker, the files that mostly
# wait (time limits, Slurm's jobs, kernels restarted, processes that must end): the class's two
# grading workers take the core they leave idle. Two waiting files at once, or one at the end,
# leave a core idle (a run of 2026-12-07 with them later: about a core for a minute, 65 core-seconds
# in all). Then the files that compute, the longest first.
# (Seconds per file in a run of 2026-12-07: the class 290, Gradescope 164, the time limits 53,
# Slurm 60, hogwild 48, the notebooks 45, the one-verdict test 45, outside 38, the sandbox modes 39,
# the nbgrader process 25.)
LONGEST_FIRST = (
    "integration/test_grade_class.py",
    "integration/test_grade_limits.py",  # waits
    "integration/test_slurm.py",  # waits
    "course_lib/test_hogwild.py",  # waits
    "autograder/nbgrader_process/test_grading_execute.py",  # waits
    "integration/test_gradescope.py",
    "autograder/test_one_verdict.py",
    "integration/test_notebooks_execute.py",
    "autograder/pipeline/test_outside.py",
    "integration/test_sandbox_modes.py",
    "course_lib/test_envs.py",
    "course_lib/test_doom.py",
    "autograder/pipeline/test_score.py",
    "integration/test_pretrain.py",
)


def pytest_configure(config):
    """``make test`` runs two test processes on two cores (``-n 2``): each, and every kernel and
    notebook it starts, gets its share of torch's threads, as the grader gives notebooks graded side
    by side theirs. A torch thread more than its cores spins while it waits: notebook 2 in fast mode
    took 21 s of CPU with two threads beside other work, 11 s with one. Set here, in the process that
    starts the test processes, before it starts them: they and theirs inherit it."""
    workers = getattr(config.option, "numprocesses", None)
    if not hasattr(config, "workerinput") and isinstance(workers, int) and workers > 1:
        from autograder.processes import cores_each  # the grader's own share (Job.env)

        os.environ.setdefault("OMP_NUM_THREADS", str(cores_each(workers)))


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent

    def rank(item) -> int:
        path = item.path.relative_to(here).as_posix() if item.path.is_relative_to(here) else ""
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's own order kept


@pytest.fixture()
def kernel():
    started = Kernel()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def runnable_python():
    """uid mode runs the student's code as a throw-away uid, which must be able to run this Python.
    Where it sits under a 0700 folder (pyenv's under /root on this kind of machine; Gradescope's is
    /usr/bin's), the folders on its way are made crossable (o+x: not listable) for the test."""
    from autograder.sandboxed import launcher

    if os.geteuid() != 0 or not shutil.which("prlimit"):
        pytest.skip("uid mode needs root and prlimit")
    path = Path(os.path.realpath(sys.executable))
    changed = [(p, p.stat().st_mode) for p in path.parents if not p.stat().st_mode & 0o001]
    for p, mode in changed:
        p.chmod(mode | 0o001)
    try:
        assert launcher.uid_mode_available()
        yield
    finally:
        for p, mode in changed:
            p.chmod(mode)
