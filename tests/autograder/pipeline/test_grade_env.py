"""What the grader hands to the notebooks it runs (no sandbox needed)."""

import pytest

from autograder import pipeline


@pytest.mark.parametrize("cores, workers, threads", [(2, 2, "1"), (2, 1, "2"), (8, 3, "2"), (1, 4, "1")])
def test_notebooks_side_by_side_share_the_cores(monkeypatch, tmp_path, cores, workers, threads):
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: cores)
    job = pipeline.Job(
        "ann",
        tmp_path / "course",
        tmp_path / "run",
        tmp_path / "work",
        61000,
        pipeline.Options(workers=workers, sandbox="off"),
        False,
        tmp_path / "stage",
        tmp_path / "jupyter",
    )
    assert job.env()["OMP_NUM_THREADS"] == threads  # read by course_lib.runtime.set_cpu_threads
