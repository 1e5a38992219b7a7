"""What the grader hands to the notebooks it runs (no sandbox needed)."""
import pytest

from autograder import grade


@pytest.mark.parametrize("cores, workers, threads", [(2, 2, "1"), (2, 1, "2"), (8, 3, "2"), (1, 4, "1")])
def test_notebooks_side_by_side_share_the_cores(monkeypatch, tmp_path, cores, workers, threads):
    monkeypatch.setattr(grade.os, "cpu_count", lambda: cores)
    grader = grade.Grader(tmp_path, grade.Options(workers=workers, sandbox="off"))
    env = grader._env(tmp_path / "work", tmp_path / "runtime", uid=61000)
    assert env["OMP_NUM_THREADS"] == threads  # read by course_lib.runtime.set_cpu_threads
