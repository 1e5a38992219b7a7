"""The grading machine's OOM kills, read from the memory cgroup's counters (v1 and v2), become a
sentence that blames the machine's limit, not the student's code; nothing is said where nothing
can be read or nothing was killed."""

import pytest

from autograder.pipeline import oom


@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    monkeypatch.setattr(oom, "CGROUP", tmp_path / "cgroup")
    monkeypatch.setattr(oom, "PROC_CGROUP", tmp_path / "proc-self-cgroup")
    return tmp_path


def v1(root, kills: int, limit: int) -> None:
    folder = root / "cgroup" / "memory" / "limited_42"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "proc-self-cgroup").write_text("12:cpu,cpuacct:/limited_42\n7:memory:/limited_42\n")
    (folder / "memory.oom_control").write_text(f"oom_kill_disable 0\nunder_oom 0\noom_kill {kills}\n")
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")


def test_a_kill_under_a_v1_limit_is_the_machines_memory_with_its_size(cgroup):
    v1(cgroup, 2, 768 * 2**20)
    before = oom.now()
    assert before == oom.Memory(2, 768) and oom.killed_since(before) is None
    v1(cgroup, 3, 768 * 2**20)
    said = oom.killed_since(before)
    assert said and "memory (768 MB) ran out" in said and "assignment's memory setting" in said


def test_v2_inside_a_container_reads_the_mounts_root_and_no_limit_is_no_size(cgroup):
    (cgroup / "proc-self-cgroup").write_text("0::/docker/abc123\n")  # not a path of the container's mount
    (cgroup / "cgroup").mkdir()
    (cgroup / "cgroup" / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n")
    (cgroup / "cgroup" / "memory.max").write_text("max\n")
    before = oom.now()
    assert before == oom.Memory(0, None)
    (cgroup / "cgroup" / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    said = oom.killed_since(before)
    assert said and "the grading machine's memory ran out" in said


def test_nothing_readable_says_nothing(cgroup):
    assert oom.now() is None and oom.killed_since(None) is None
