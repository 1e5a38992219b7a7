"""Run an nbgrader command on a course folder, with a deadline, and everything it started stopped after."""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

from autograder.paths import course_env


def nbgrader(
    course_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` on ``course_dir``, with the ``nbgrader_config.py`` found there.

    Output (stdout and stderr together) is captured. ``check``: raise when nbgrader fails. After
    ``timeout`` seconds nbgrader and everything it started (its kernel and the kernel's children)
    are killed and ``subprocess.TimeoutExpired`` is raised.
    """
    cmd = [
        sys.executable,
        "-m",
        "autograder.nbgrader_cli",
        *args,
        f"--CourseDirectory.root={course_dir}",
        "--log-level=WARN",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=course_dir,
        env=course_env() if env is None else env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{output}")
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


if __name__ == "__main__":
    # ``python -m autograder.nbgrader_cli ARGS`` is ``nbgrader ARGS``, started through this package
    # so that its import-time settings (autograder/__init__.py) hold in nbgrader's process too.
    runpy.run_module("nbgrader", run_name="__main__", alter_sys=True)
