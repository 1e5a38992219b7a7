"""What the grader hands to the notebooks it runs (no sandbox needed)."""

import pytest

from autograder.pipeline import job as pipeline


@pytest.mark.parametrize("cores, workers, threads", [(2, 2, "1"), (2, 1, "2"), (8, 3, "2"), (1, 4, "1")])
def test_notebooks_side_by_side_share_the_cores(monkeypatch, tmp_path, cores, workers, threads):
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: cores)
    job = pipeline.Job(
        "ann",
        tmp_path / "course",
        tmp_path / "run",
        tmp_path / "work",
        61000,
        pipeline.Options(workers=workers, sandbox=pipeline.Sandbox.OFF),
        tmp_path / "stage",
        tmp_path / "jupyter",
    )
    assert job.env()["OMP_NUM_THREADS"] == threads  # read by course_lib.runtime.set_cpu_threads


def test_two_runs_on_one_machine_never_share_a_throw_away_uid(monkeypatch, tmp_path):
    """Each run leases its workers' uids (a lock per uid, held while it runs): a second run takes
    others, and the uids come free when a run ends. (A shared uid let one run's end-of-student
    kill reach the other run's kernels.)"""
    import os

    if os.geteuid() != 0:
        pytest.skip("uids are leased by root only")
    monkeypatch.setattr(pipeline, "UID_LEASES", tmp_path / "leases")
    first = pipeline.UidLeases(3)
    second = pipeline.UidLeases(2)
    try:
        assert len(set(first.uids)) == 3 and len(set(second.uids)) == 2
        assert not set(first.uids) & set(second.uids)
        assert all(
            pipeline.FIRST_SANDBOX_UID <= u < pipeline.FIRST_SANDBOX_UID + pipeline.SANDBOX_UIDS for u in first.uids
        )
        with pytest.raises(SystemExit, match="free throw-away uids"):
            pipeline.UidLeases(pipeline.SANDBOX_UIDS)
        first.close()
        third = pipeline.UidLeases(3)
        assert set(third.uids) == set(first.uids)
        third.close()
    finally:
        first.close()
        second.close()


def test_a_notebook_that_ran_out_of_time_gets_short_calls_in_the_scorer(tmp_path):
    """A student's function that sleeps on every call cost a worker minutes of scoring after the
    kernel had already run out of time on it: there, each call gets SLOW_CALL_TIMEOUT, not a cell's."""
    from autograder.pipeline.collect import Submission
    from autograder.pipeline.score import call_timeouts

    job = pipeline.Job(
        "ann", tmp_path, tmp_path, tmp_path, 61000, pipeline.Options(cell_timeout=120), tmp_path, tmp_path
    )
    subs = [Submission("ann", nb, tmp_path / f"{nb}.ipynb") for nb in ("01_policy_gradient", "02_a2c")]
    runs = {"01_policy_gradient": ("timeout", "cell(s) ran out of time"), "02_a2c": ("graded", "")}
    assert call_timeouts(job, subs, runs) == {"01_policy_gradient": pipeline.SLOW_CALL_TIMEOUT, "02_a2c": 120.0}


def test_the_runs_own_folder_shows_the_modules_and_keeps_the_kernelspec_even_with_umask_0(monkeypatch, tmp_path):
    """What the sandboxes run lives outside the results (whose path may hold a ':', which
    JUPYTER_PATH would split): the staged modules readable by any uid (the uid mode's student reads
    them), the sandbox's kernelspec, which root's nbgrader runs, closed to every other uid (the uid
    mode's student sees this machine's /tmp), whatever the grader's umask."""
    import os

    from autograder.pipeline.run import Grader
    from autograder.sandboxed import launcher

    monkeypatch.setattr(launcher, "available", lambda: True)  # the modes' folders, not bwrap, are tested
    grader = Grader(tmp_path / "fall: 2026" / "out", pipeline.Options(sandbox=pipeline.Sandbox.ON))
    old = os.umask(0)
    try:
        grader.prepare(["01_policy_gradient"])
    finally:
        os.umask(old)
    try:
        assert grader.temporary is not None and grader.stage is not None
        assert ":" not in str(grader.temporary) and not grader.temporary.is_relative_to(tmp_path)
        assert grader.stage.stat().st_mode & 0o005 and grader.temporary.stat().st_mode & 0o001
        assert grader.kernelspecs.is_relative_to(grader.temporary) and grader.kernelspecs.stat().st_mode & 0o077 == 0
        assert (grader.kernelspecs / "kernels" / launcher.KERNEL_NAME / "kernel.json").exists()
    finally:
        grader.close()
    assert not grader.temporary.exists()
