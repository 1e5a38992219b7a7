import io

import numpy as np
import torch

from course_lib import runtime


def test_fast_mode_from_course_fast_or_nbgrader(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not runtime.fast_mode() and runtime.budget(100, 1) == 100
    monkeypatch.setenv("COURSE_FAST", "1")
    assert runtime.fast_mode() and runtime.budget(100, 1) == 1
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not runtime.fast_mode()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert runtime.fast_mode()


def test_seed_everything_repeats_draws():
    runtime.seed_everything(5)
    a = (np.random.rand(), torch.rand(1).item())
    runtime.seed_everything(5)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_progress_counts_and_reports(monkeypatch):
    monkeypatch.setattr(runtime, "_has_widgets", lambda: False)  # the text bar, as in a script
    buf = io.StringIO()
    bar = runtime.progress(total=10, desc="train", file=buf, mininterval=0)
    bar.update(10)
    bar.close()
    assert bar.n == 10 and "train" in buf.getvalue() and "10/10" in buf.getvalue()


def test_cpu_device_without_cuda():
    assert runtime.get_device("cpu").type == "cpu"


def test_cpu_threads_all_cores_unless_omp_num_threads_says_otherwise(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(runtime.os, "cpu_count", lambda: 8)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        runtime.set_cpu_threads()
        assert torch.get_num_threads() == 8
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what the grader sets for notebooks side by side
        runtime.set_cpu_threads()
        assert torch.get_num_threads() == 1
        runtime.set_cpu_threads(3)  # an explicit number wins
        assert torch.get_num_threads() == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "junk")
        runtime.set_cpu_threads()
        assert torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(before)
