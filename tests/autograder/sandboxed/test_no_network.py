"""The seccomp filter that refuses the student's code the network where no network namespace does
(the uid mode): what it decides for each system call, read by a small interpreter of its program,
and what it does in a process (tests/integration/test_gradescope.py grades with it in uid mode)."""

import errno
import socket
import subprocess
import sys
import textwrap

import pytest

from autograder.paths import ROOT, course_env
from autograder.sandboxed import no_network as nn


def decide(program, arch: int, nr: int, arg0: int) -> int:
    """Run a classic-BPF seccomp program on (arch, nr, args[0]): its return value."""
    data = {nn.OFFSET_ARCH: arch, nn.OFFSET_NR: nr, nn.OFFSET_ARG0: arg0}
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == nn.LD_W_ABS:
            accumulator = data[k]
        elif code == nn.RET_K:
            return k
        elif code in (nn.JEQ_K, nn.JGE_K):
            taken = accumulator == k if code == nn.JEQ_K else accumulator >= k
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unknown instruction {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", sorted(nn.ARCHITECTURES))
def test_only_local_sockets_are_made_and_everything_else_runs(machine):
    arch, numbers = nn.ARCHITECTURES[machine]
    program = nn.program(machine)
    allow, refused, nothing = nn.RET_ALLOW, nn.RET_ERRNO | errno.EACCES, nn.RET_ERRNO | errno.ENOSYS
    socket_nr = numbers["socket"]
    assert decide(program, arch, socket_nr, socket.AF_UNIX) == allow
    assert decide(program, arch, socket_nr, socket.AF_NETLINK) == allow
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET, 40):  # 40: AF_VSOCK, to the host
        assert decide(program, arch, socket_nr, family) == refused
    assert decide(program, arch, numbers["io_uring_setup"], 0) == refused
    for other in (0, 1, 57, 59, 231):  # read, write, fork, execve, exit_group (x86_64's numbers)
        assert decide(program, arch, other, socket.AF_INET) == allow
    assert decide(program, arch, socket_nr | nn.X32_BIT, socket.AF_INET) == nothing  # x32's numbering
    other_arch = next(a for a, _ in nn.ARCHITECTURES.values() if a != arch)
    assert decide(program, other_arch, 0, 0) == nothing  # 32-bit code, or another ABI


@pytest.mark.slow
def test_in_a_process_the_internet_is_refused_to_it_and_its_children_and_torch_still_runs():
    code = textwrap.dedent(
        """
        import socket, subprocess, sys, threading
        from autograder.sandboxed import no_network
        go, made = threading.Event(), []

        def other():  # a thread started before the filter (ipykernel's are), asked after it
            go.wait(30)
            try:
                made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM).detach())
            except PermissionError:
                made.append(None)

        thread = threading.Thread(target=other)
        thread.start()
        no_network.install()
        go.set()
        thread.join(30)
        assert made == [None], made
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.socket(family, socket.SOCK_STREAM)
                sys.exit("an internet socket was made")
            except PermissionError:
                pass
        child = subprocess.run([sys.executable, "-c", "import socket; socket.socket()"], capture_output=True, text=True)
        assert "PermissionError" in child.stderr, child.stderr
        import torch
        print("ok", float(torch.ones(3).sum()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=course_env(), cwd=ROOT, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok 3.0", done.stderr[-2000:]
