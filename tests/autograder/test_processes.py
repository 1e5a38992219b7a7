"""autograder.processes, the grader's one way to run a process: a deadline, and a stop of the whole
run, end everything the process started, in whatever session (jupyter_client starts a kernel in a
session of its own, and the unsandboxed answers process is started so too), and a stopped run starts
nothing more until the next one."""

import os
import subprocess
import sys
import threading
import time

import pytest

from autograder import processes

# Starts a process in a session of its own (out of reach of a group kill), writes its pid, waits.
STARTS_ONE_APART = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
    "open(sys.argv[1], 'w').write(str(child.pid))\n"
    "time.sleep(60)\n"
)


def alive(pid: int) -> bool:
    """Running (a zombie is dead: it waits only for its parent to read its status)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ends(pid: int) -> bool:
    """Dead, or dead within seconds: a SIGKILL takes effect when the kernel next schedules it."""
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def started_apart(pid_file) -> int:
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the process never started its child"
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_a_deadline_ends_what_the_process_started_in_a_session_of_its_own(tmp_path):
    pid_file = tmp_path / "child.pid"
    done = processes.run([sys.executable, "-c", STARTS_ONE_APART, str(pid_file)], timeout=2)
    assert done.timed_out
    assert ends(started_apart(pid_file))


def test_a_stopped_run_ends_its_processes_trees_and_starts_no_other(tmp_path):
    pid_file, raised = tmp_path / "child.pid", []

    def wait_for_it():
        try:
            processes.run([sys.executable, "-c", STARTS_ONE_APART, str(pid_file)], timeout=120)
        except processes.Stopped as exc:
            raised.append(exc)

    waiting = threading.Thread(target=wait_for_it)
    waiting.start()
    child = started_apart(pid_file)
    try:
        processes.stop_all()
        waiting.join(timeout=30)
        assert not waiting.is_alive() and raised  # the waiting thread learns the run is stopping
        assert ends(child)
        with pytest.raises(processes.Stopped):
            processes.run(["true"], timeout=10)
    finally:
        processes.allow()
    assert processes.run(["true"], timeout=10).returncode == 0  # the next run starts processes again


def test_a_reaped_processs_pid_is_not_taken_for_it(tmp_path):
    """A process reaped while a stop or a deadline comes (``run`` reaps it in its drain window) may
    have its pid handed to another process: the kill goes through a pidfd of the process itself,
    so the other one, and its tree, live on. (The pid is handed over on purpose, as a busy
    machine would: ns_last_pid, root only.)"""
    if os.geteuid() != 0:
        pytest.skip("handing out a given pid needs root")
    gone = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(gone.pid)
    gone.wait()
    try:
        with open("/proc/sys/kernel/ns_last_pid", "w") as last:
            last.write(str(gone.pid - 1))
    except OSError:  # a container's root without CAP_SYS_ADMIN
        pytest.skip("this root cannot hand out a given pid")
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        if bystander.pid != gone.pid:
            pytest.skip("another process took the pid first")
        processes._kill_tree(gone.pid, pidfd)
        time.sleep(0.2)  # a kill would have landed by now; the assertion is that none was sent
        assert bystander.poll() is None
    finally:
        bystander.kill()
        os.close(pidfd)
