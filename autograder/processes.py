"""Start a process that runs (or starts) a student's code, and wait for it with a deadline that holds.

A process the student's code started can outlive the one we wait for: in a session of its own
(``setsid``) it escapes the process group we kill, and if it inherited our end of a pipe, a
``communicate()`` waits for as long as it lives (Gradescope then stops the whole run: the student
gets "the autograder failed"). So here the output is read with the deadline in hand, and once the
process we started has exited, what is still holding the pipe gets ``DRAIN_SECONDS`` more, then the
pipe is closed on it. At the deadline the process group is killed, and so is everything ``also_kill``
reaches (the uid mode's throw-away uid: ``launcher.kill_uid``), in every sandbox mode.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

DRAIN_SECONDS = 2.0  # after the process exited: for what it wrote last, not for what it left running
KEEP_BYTES = 200_000  # the tail of the output that is kept (for the instructor's log)


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
    + ``DRAIN_SECONDS`` + a few seconds, whatever the process left behind."""
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
    # What is left of its group goes too (before ``proc`` is reaped, its pid cannot name another group)
    _killpg(proc.pid)
    if timed_out:
        if also_kill is not None:
            also_kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return Finished(None, kept.decode("utf-8", "replace"))
    return Finished(proc.wait(), kept.decode("utf-8", "replace"))


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
