"""Start a process that runs (or starts) a student's code, and wait for it with a deadline that holds.

A process the student's code started can outlive the one we wait for: in a session of its own
(``setsid``) it escapes the process group we kill, and if it inherited our end of a pipe, a
``communicate()`` waits for as long as it lives (Gradescope then stops the whole run: the student
gets "the autograder failed"). So here the output is read with the deadline in hand, and once the
process we started has exited, what is still holding the pipe gets ``DRAIN_SECONDS`` more, then the
pipe is closed on it. At the deadline the process group is killed, and so is everything ``also_kill``
reaches (the uid mode's throw-away uid: ``launcher.kill_uid``), in every sandbox mode.

When the grading run itself is stopped (Ctrl-C, or SIGTERM: Slurm's time limit, ``scancel``), its
processes live in sessions of their own, where neither signal reaches them: ``stop_all`` kills every
process running here as its deadline would, and ``run`` then starts none (it raises ``Stopped``).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DRAIN_SECONDS = 2.0  # after the process exited: for what it wrote last, not for what it left running
KEEP_BYTES = 200_000  # the tail of the output that is kept (for the instructor's log)

_stopping = threading.Event()  # set by stop_all: the run is being stopped
# the processes ``run`` waits for now: pid -> (a pidfd of it, or None without pidfds; also_kill)
_running: dict[int, tuple[int | None, Callable[[], object] | None]] = {}
_lock = threading.Lock()


def cores_each(side_by_side: int) -> int:
    """The cores each of ``side_by_side`` processes gets (torch's threads in a notebook graded beside
    others, a test process beside another): a thread more than its share spins while it waits."""
    return max(1, (os.cpu_count() or 1) // side_by_side)


class Stopped(Exception):
    """The grading run is being stopped: no process is started any more."""


def stop_all() -> None:
    """Stop every process ``run`` is waiting for, with what their ``also_kill`` reaches, and start
    no other (``run`` raises ``Stopped``) until ``allow``."""
    _stopping.set()
    with _lock:  # held while their pidfds are used: ``run`` closes one only after taking it
        running = list(_running.items())
        for pid, (pidfd, _) in running:
            _kill_tree(pid, pidfd)
    for _, (_, also_kill) in running:
        if also_kill is not None:
            try:
                also_kill()
            except OSError:  # the others are still stopped
                pass


def allow() -> None:
    """A new grading run in this process may start processes again (after a ``stop_all``)."""
    _stopping.clear()


@dataclass
class Finished:
    returncode: int | None  # None: killed at the deadline
    output: str  # stdout and stderr together, the last KEEP_BYTES of it

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run(
    command: list[str],
    *,
    timeout: float | None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    also_kill: Callable[[], object] | None = None,
) -> Finished:
    """Run ``command`` in a session of its own; its output, or ``returncode=None`` when it was
    still running after ``timeout`` seconds (then it and its group were killed, and ``also_kill``
    called). What is left of its process group is killed in every case. Returns within ``timeout``
    + ``DRAIN_SECONDS`` + a few seconds, whatever the process left behind. Raises ``Stopped`` once
    ``stop_all`` was called."""
    if _stopping.is_set():
        raise Stopped("the grading run is being stopped")
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None  # a pipe: Popen was given stdout=PIPE
    pidfd = _pidfd(proc.pid)  # before anything can reap it: it names this process, never a later one
    with _lock:
        _running[proc.pid] = (pidfd, also_kill)
    try:
        if _stopping.is_set():  # stop_all came between the check above and the registration
            _kill_tree(proc.pid, pidfd)
        finished = _wait(proc, pidfd, timeout, also_kill)
    except BaseException:  # Ctrl-C or SIGTERM in the thread that waits (the run's main): it goes too
        _kill_tree(proc.pid, pidfd)
        if also_kill is not None:
            also_kill()
        raise
    finally:
        with _lock:
            _running.pop(proc.pid, None)
            if pidfd is not None:
                os.close(pidfd)
    if _stopping.is_set():  # killed by stop_all, or finished as it came: its caller stops too
        raise Stopped("the grading run is being stopped")
    return finished


def _wait(
    proc: subprocess.Popen, pidfd: int | None, timeout: float | None, also_kill: Callable[[], object] | None
) -> Finished:
    assert proc.stdout is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    kept = bytearray()
    exited_at: float | None = None
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > DRAIN_SECONDS:
                break  # what still holds the pipe is not the process we waited for
            if deadline is not None and exited_at is None and now > deadline:
                timed_out = True
                break
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - now))
            if not selector.select(wait):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:  # every writer closed the pipe: the process is exiting, or has
                try:
                    proc.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                break
            kept += chunk
            del kept[:-KEEP_BYTES]
    proc.stdout.close()  # a writer left behind gets EPIPE, not our attention
    if not timed_out:  # what is left of its group goes too
        _killpg(proc.pid)
        return Finished(proc.wait(), kept.decode("utf-8", "replace"))
    _kill_tree(proc.pid, pidfd)  # at the deadline: with everything it started, in whatever session
    if also_kill is not None:
        also_kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return Finished(None, kept.decode("utf-8", "replace"))


def _descendants(pid: int) -> list[int]:
    """The living descendants of ``pid``, by the parent links in /proc (a process whose parent
    died has lost its link: kill the tree before its root)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: the group kill alone
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])  # the name, in (), may hold anything
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except OSError:  # a kernel without pidfds (before Linux 5.3): the group kill alone
        return None


def _kill_tree(pid: int, pidfd: int | None) -> None:
    """The process, everything it started, and its group. What it started may be in a session of
    its own, where the group kill does not reach: the kernel jupyter_client starts (while bwrap has
    not yet armed --die-with-parent, a killed nbgrader leaves it running), the unsandboxed answers
    process the scorer starts. The process is stopped through its pidfd first: that fails once it
    was reaped (its pid may then be another process's, whose tree is not ours), and a stopped
    process is not reaped, so its parent links stay; each process found is stopped, so that none
    starts another unseen, then all are killed."""
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
        except ProcessLookupError:
            pass  # reaped: its pid may name another process now; only its group is killed
        else:
            stopped: list[int] = []
            try:
                for _ in range(5):  # until a walk finds nothing new (a fork may have raced the first one)
                    new = [p for p in _descendants(pid) if p not in stopped]
                    if not new:
                        break
                    for p in new:
                        _signal(p, signal.SIGSTOP)
                    stopped += new
            finally:  # whatever happened above, nothing is left stopped
                for p in stopped:
                    _signal(p, signal.SIGKILL)
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    _killpg(pid)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
