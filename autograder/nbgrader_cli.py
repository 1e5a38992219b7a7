"""Run an nbgrader command on a course folder, with a deadline, and everything it started stopped after."""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from autograder import processes
from autograder.paths import course_env


def nbgrader(
    course_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    also_kill: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` on ``course_dir``, with the ``nbgrader_config.py`` found there.

    Output (stdout and stderr together) is captured. ``check``: raise when nbgrader fails. After
    ``timeout`` seconds nbgrader and everything it started (its kernel and the kernel's children,
    and what ``also_kill`` reaches: the uid mode's throw-away uid) are killed and
    ``subprocess.TimeoutExpired`` is raised; a process the kernel left holding nbgrader's output
    does not hold us (``autograder.processes``).
    """
    cmd = [
        sys.executable,
        "-m",
        "autograder.nbgrader_cli",
        *args,
        f"--CourseDirectory.root={course_dir}",
        "--log-level=WARN",
    ]
    done = processes.run(
        cmd, timeout=timeout, env=course_env() if env is None else env, cwd=course_dir, also_kill=also_kill
    )
    if done.returncode is None:
        raise subprocess.TimeoutExpired(cmd, timeout or 0, output=done.output)
    if check and done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.output}")
    return subprocess.CompletedProcess(cmd, done.returncode, done.output, "")


if __name__ == "__main__":
    # ``python -m autograder.nbgrader_cli ARGS`` is ``nbgrader ARGS``, started through this package
    # so that its import-time settings (autograder/__init__.py) hold in nbgrader's process too.
    runpy.run_module("nbgrader", run_name="__main__", alter_sys=True)
