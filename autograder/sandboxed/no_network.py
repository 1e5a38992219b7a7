"""Refuse the student's code any socket but a local one: a seccomp filter, in the student's process.

bwrap's namespaces already give the code a network of its own with nothing in it; the uid mode (a
container that forbids namespaces, as Gradescope's does) has none, and there a throw-away uid could
still connect out. An unprivileged process may filter its own system calls, for itself and every
process it starts, once it has given up gaining privileges (``no_new_privs``: no setuid program can
lift the filter): ``socket()`` is refused (``EACCES``) for every family but ``AF_UNIX`` (the kernel's
own sockets in the sandbox) and ``AF_NETLINK`` (the machine's own interfaces: nothing leaves it), and
``io_uring_setup`` (which can make sockets without ``socket()``) is refused too. A process of another
architecture (32-bit code on a 64-bit kernel has other system call numbers) gets nothing at all.

Installed in both sandbox modes, after the privileges are dropped (``launcher._drop_privileges``);
it holds for the kernel, the answers process and everything they start. What it does not stop: a
socket made before it was installed (the kernel's, which are ``AF_UNIX``), and anything that needs no
socket (the files the uid can write, the processes it can see: docs/grading.md says what each
mode stops).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
import subprocess
import sys
from pathlib import Path

# <linux/audit.h>, and the system call numbers of each architecture's unistd.h
ARCHITECTURES = {
    "x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "seccomp": 317}),
    "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "seccomp": 277}),
}
ALLOWED_FAMILIES = (1, 16)  # AF_UNIX, AF_NETLINK
X32_BIT = 0x40000000  # x86_64's x32 system calls: another numbering, refused as a whole

# <linux/filter.h>, <linux/seccomp.h>
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data (args[0]'s low half: little-endian)


class Unsupported(RuntimeError):
    """This machine's architecture or kernel has no filter here."""


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jump if true, jump if false, k) instructions."""
    name = machine or platform.machine()
    if name not in ARCHITECTURES:
        raise Unsupported(f"no seccomp filter for {name}")
    arch, numbers = ARCHITECTURES[name]
    # Each jump names its target; the kernel wants the count of instructions skipped.
    code: list[tuple] = [
        (LD_W_ABS, 0, 0, OFFSET_ARCH),
        (JEQ_K, 0, "nothing", arch),  # another architecture's system calls
        (LD_W_ABS, 0, 0, OFFSET_NR),
        (JGE_K, "nothing", 0, X32_BIT),
        (JEQ_K, "family", 0, numbers["socket"]),
        (JEQ_K, "refuse", "allow", numbers["io_uring_setup"]),
        ("family", 0, 0, 0),
        (LD_W_ABS, 0, 0, OFFSET_ARG0),
        *((JEQ_K, "allow", 0, family) for family in ALLOWED_FAMILIES),
        (JEQ_K, "refuse", "refuse", 0),  # none of them (an unconditional jump, as a comparison)
        ("allow", 0, 0, 0),
        (RET_K, 0, 0, RET_ALLOW),
        ("refuse", 0, 0, 0),
        (RET_K, 0, 0, RET_ERRNO | errno.EACCES),
        ("nothing", 0, 0, 0),
        (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
    ]
    labels: dict[str, int] = {}
    instructions: list[tuple] = []
    for line in code:
        if isinstance(line[0], str):
            labels[line[0]] = len(instructions)
        else:
            instructions.append(line)

    def skip(target: str | int, at: int) -> int:
        return target if isinstance(target, int) else labels[target] - at - 1

    return [(op, skip(jt, at), skip(jf, at), k) for at, (op, jt, jf, k) in enumerate(instructions)]


def install() -> None:
    """Install the filter on every thread of this process (and so on all it starts); raise when it
    cannot be.

    A filter set with prctl holds for the calling thread only: the kernel's process has threads of
    ipykernel's by then (its control, iopub and heartbeat threads), each of which could still open an
    internet socket and hand it over. seccomp()'s TSYNC flag puts the filter, and no_new_privs, on
    all of them at once, or fails."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = program()
    filters = b"".join(struct.pack("HBBI", *instruction) for instruction in code)
    buffer = ctypes.create_string_buffer(filters)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code), ctypes.addressof(buffer))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise Unsupported(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
    seccomp = ARCHITECTURES[platform.machine()][1]["seccomp"]  # program() checked the architecture
    done = libc.syscall(seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(prog))
    if done != 0:  # -1 and errno, or the id of a thread that could not take the filter
        why = os.strerror(ctypes.get_errno()) if done < 0 else f"thread {done} could not take the filter"
        raise Unsupported(f"seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): {why}")


def works() -> bool:
    """Whether the filter can be installed here and refuses an internet socket (tried in a process
    of its own: a filter cannot be taken back)."""
    top = Path(__file__).resolve().parents[2]  # where the autograder package is (the repository, or the stage)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder.sandboxed.no_network"],
            capture_output=True,
            timeout=60,
            check=False,
            cwd=top,
            env={**os.environ, "PYTHONPATH": str(top)},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _refused() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return True
    return False


if __name__ == "__main__":  # the self-test: a thread started before the filter is refused too
    import threading

    go = threading.Event()
    answer: list[bool] = []

    def ask() -> None:
        go.wait(30)
        answer.append(_refused())

    other = threading.Thread(target=ask, daemon=True)
    other.start()
    try:
        install()
    except Unsupported as exc:
        sys.exit(f"not installed: {exc}")
    go.set()
    other.join(30)
    if not _refused() or answer != [True]:
        sys.exit(f"installed, but an internet socket was made (this thread refused: {_refused()}, the other: {answer})")
    sys.exit(0)
