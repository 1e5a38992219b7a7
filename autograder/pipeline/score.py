"""Step 3 of the pipeline, score: start the scorer (``scorer``, a clean process of its own) for a
student's notebooks, and read its reply. Every point comes from there, outside the kernel."""

from __future__ import annotations

import os
import sys

from autograder import processes
from autograder.paths import course_env
from autograder.pipeline import statuses
from autograder.pipeline.collect import Submission
from autograder.pipeline.job import HARD_TIMEOUT_GRACE, SLOW_CALL_TIMEOUT, Job
from autograder.pipeline.scoring import NotebookScore, ScoreRequest, read_reply
from autograder.sandboxed import launcher


def call_timeouts(job: Job, subs: list[Submission], runs: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Seconds for one cell or call of each notebook in the scorer: a cell's timeout, or
    ``SLOW_CALL_TIMEOUT`` where the student's code already ran out of time in the kernel (its
    functions would make the scorer wait as long again, call after call: a student whose code
    sleeps kept a worker for minutes). A call that runs out is not made again (``hung``)."""
    return {
        s.notebook: float(
            min(SLOW_CALL_TIMEOUT, job.options.cell_timeout)
            if runs[s.notebook][0] == statuses.TIMEOUT
            else job.options.cell_timeout
        )
        for s in subs
    }


def run_scorer(job: Job, subs: list[Submission], timeouts: dict[str, float]) -> dict[str, NotebookScore]:
    """Start the scorer for a student's notebooks (``subs``, each with its cells' and calls'
    ``timeouts``): a clean process of its own that calls the answer cells in a (sandboxed) answers
    process. Its result, ``{}`` when it failed (the instructor's log: ``work/<student>/score.log``)."""
    if not subs:
        return {}
    env = job.env()
    if job.mode is not None:  # the launcher starts it in the sandbox
        command = [sys.executable, "-m", "autograder.sandboxed.launcher", "answers"]
    else:
        command = [sys.executable, "-m", "autograder.sandboxed.answers_server"]
        env["PYTHONPATH"] = str(job.stage)  # the public grading modules only
    request = ScoreRequest(
        notebooks={s.notebook: str(job.submitted(s.notebook)) for s in subs},
        command=command,
        cwd=str(job.work),
        call_timeouts={s.notebook: timeouts[s.notebook] for s in subs},
        budget=job.options.notebook_timeout,
        # bwrap's namespaces give the answers process a /dev/shm of its own; the uid mode shares the host's
        own_shm=job.mode == launcher.NAMESPACES,
        # the files the scorer makes there belong to the student's uid alone (0600): no other
        # student's code, graded beside it in the uid mode, can write into them
        files_uid=job.uid if job.mode is not None and os.geteuid() == 0 else None,
        # only what differs from the scorer's own environment (which is not written to disk)
        env={k: v for k, v in env.items() if os.environ.get(k) != v},
    )
    request.write(job.course / "score-request.json")
    result = job.course / "score-result.json"
    done = processes.run(
        [sys.executable, "-m", "autograder.pipeline.scorer", str(job.course / "score-request.json"), str(result)],
        env=course_env(OMP_NUM_THREADS=env["OMP_NUM_THREADS"]),
        cwd=job.course,
        timeout=job.options.notebook_timeout * len(subs) + HARD_TIMEOUT_GRACE,
        also_kill=job.kill_leftovers,  # the answers process, and what it started
    )
    if done.returncode != 0 or not result.exists():
        (job.course / "score.log").write_text(done.output)  # for the instructor
        return {}
    return read_reply(result)
