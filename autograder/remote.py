"""The scorer's side of the process boundary: a student's functions, called from another process.

``StudentAnswers`` starts ``python -m autograder.answers`` (in the grading sandbox), sends it the
student's answer cells and hands out ``RemoteFunction`` proxies. A proxy is called like the
student's function: its arguments travel as data, the student's process runs the function, and
the result comes back as data. Result tensors that need a gradient come back with their Jacobian
with respect to every argument that has one, and are rebuilt here as nodes of the scorer's own
autograd graph: ``loss.backward()`` in a hidden check reaches the parameters of the scorer's model
exactly as if the student's function had run in the scorer. Arguments the function changed in
place are changed here too, so a check for in-place changes sees them.

Every reply has a deadline. A cell or a call that does not answer in time, or that kills its
process, costs only itself: the process is started again and the cells that ran before are run
again (``replay``), so the next checks still find the student's other functions.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import torch

from autograder.wire import Encoder, Opaque, WireError, decode, read_frame, write_frame
from course_lib.checks import StudentCodeError

__all__ = ["RemoteFunction", "StudentAnswers", "Opaque"]


class _Gone(Exception):
    """The student's process stopped answering (timeout) or died; the message says which."""


class StudentProcess:
    """One ``autograder.answers`` process, each reply awaited with a deadline.

    The deadlines count from when the process says it is ready (its imports done), so that a slow
    start on a busy machine does not eat the first cell's time.
    """

    def __init__(self, command: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                 start_timeout: float = 120.0):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            ready = self.replies.get(timeout=start_timeout)
        except queue.Empty:
            ready = None
        if not (isinstance(ready, tuple) and ready[0].get("ready")):
            self.kill()
            raise _Gone("did not start (its sandbox or its imports failed)")

    def _read(self) -> None:
        try:
            while True:
                self.replies.put(read_frame(self.proc.stdout))
        except (EOFError, WireError, OSError, ValueError) as exc:
            self.replies.put(exc)

    def request(self, header: dict, blobs: list[bytes], timeout: float) -> tuple[dict, list[bytes]]:
        self.next_id += 1
        header = {**header, "id": self.next_id}
        deadline = time.monotonic() + timeout
        writer = threading.Thread(target=self._write, args=(header, blobs), daemon=True)
        writer.start()  # a process that stops reading must not block the scorer on a full pipe
        writer.join(timeout)
        if writer.is_alive():
            raise _Gone(f"did not read its input within {timeout:.0f} s")
        while True:
            try:
                reply = self.replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _Gone(f"did not finish within {timeout:.0f} s") from None
            if isinstance(reply, Exception):
                self.replies.put(reply)
                raise _Gone("stopped: the process running your code died (exit(), os._exit(), a crash, "
                            "or the memory limit)" if isinstance(reply, EOFError) else f"broke the protocol ({reply})")
            if reply[0].get("id") == self.next_id:
                return reply

    def _write(self, header: dict, blobs: list[bytes]) -> None:
        try:
            write_frame(self.proc.stdin, header, blobs)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the reader sees the end of the pipe

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _FromStudent(torch.autograd.Function):
    """A tensor the student's function computed, joined to the scorer's graph by its Jacobians."""

    @staticmethod
    def forward(ctx, value, jacobians, *inputs):
        ctx.jacobians = jacobians
        ctx.meta = [(x.shape, x.dtype) for x in inputs]
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        g = grad.reshape(-1).to(torch.float64)
        return (None, None, *[(g @ jac).reshape(shape).to(dtype) for jac, (shape, dtype) in zip(ctx.jacobians, ctx.meta)])


class _TooLarge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value, anchor):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        raise StudentCodeError("GradientError", "the result is too large to differentiate across processes", "")


def default_command() -> list[str]:
    return [sys.executable, "-m", "autograder.answers"]


class StudentAnswers:
    """A student's answer cells, run in a process of their own, and calls into them."""

    def __init__(self, command: list[str] | None = None, env: dict[str, str] | None = None, cwd: str | None = None,
                 call_timeout: float = 20.0, budget: float = 180.0):
        self.command, self.env, self.cwd = command or default_command(), env, cwd
        self.call_timeout = call_timeout
        self.deadline = time.monotonic() + budget
        self.cells: list[tuple[dict, bool]] = []  # (cell, whether it ran to its end): replayed after a restart
        self.defined: dict[str, set[str]] = {}
        self.process: StudentProcess | None = None
        self.broken = ""  # why no more calls can be made (replay failed, budget spent)
        self.hung: dict[tuple[str, str], str] = {}  # functions that did not return in time: not called again

    # ----------------------------------------------------------------- process life
    def set_budget(self, seconds: float) -> None:
        """Seconds from now for what follows (each notebook gets its own)."""
        self.deadline = time.monotonic() + seconds
        if self.broken.startswith("the time"):
            self.broken = ""

    def _timeout(self, wanted: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.broken = "the time for scoring this notebook was used up"
            raise _Gone(self.broken)
        return min(wanted, left)

    def _process(self) -> StudentProcess:
        if self.broken:
            raise _Gone(self.broken)
        if self.process is None:
            self.process = StudentProcess(self.command, self.env, self.cwd, start_timeout=self._timeout(120.0))
            for cell, ran in self.cells:  # replay: the state the next call expects
                try:
                    reply, _ = self.process.request(cell, [], self._timeout(self.call_timeout))
                except _Gone as gone:
                    self.close()
                    self.broken = f"your answer cells could not be run again after a restart ({gone})"
                    raise _Gone(self.broken) from None
                if bool(reply.get("ok")) != ran:
                    self.close()
                    self.broken = "your answer cells did not run the same way twice"
                    raise _Gone(self.broken)
        return self.process

    def _request(self, header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        process = self._process()
        try:
            reply, out = process.request(header, blobs, self._timeout(self.call_timeout))
        except _Gone:
            self.close()  # the next request starts a new process and replays the cells
            raise
        if reply.get("memory"):
            self.close()  # whatever filled the memory goes with the process
        return reply, out

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- cells and calls
    def exec_cell(self, space: str, name: str, source: str) -> str | None:
        """Run one answer cell; None when it ran, else what went wrong (the cell is then left out)."""
        header = {"op": "exec", "space": space, "name": name, "source": source}
        try:
            reply, _ = self._request(header, [])
        except _Gone as gone:
            return f"your cell `{name}` {gone}; it was left out"
        names = reply.get("defined")
        if isinstance(names, list):
            self.defined.setdefault(space, set()).update(n for n in names if isinstance(n, str) and n.isidentifier())
        if reply.get("ok"):
            self.cells.append((header, True))
            return None
        if reply.get("memory"):
            return f"your cell `{name}` ran out of memory; it was left out"
        self.cells.append((header, False))  # what ran before the error stays defined, as in a notebook
        return _message(reply.get("error"))

    def functions(self, space: str) -> dict[str, "RemoteFunction"]:
        return {name: RemoteFunction(self, space, name) for name in sorted(self.defined.get(space, ()))}

    def call(self, space: str, name: str, args: tuple, kwargs: dict, probe: str | None = None):
        if (space, name) in self.hung:  # each hang costs its timeout once, not once per check
            raise StudentCodeError("TimeoutError", self.hung[space, name], "")
        encoder = Encoder()
        inputs = encoder.encode({"args": list(args), "kwargs": kwargs})
        header = {"op": "probe" if probe else "call", "space": space, "name": name, "inputs": inputs}
        if probe:
            header["probe"] = probe
        try:
            reply, blobs = self._request(header, encoder.blobs)
        except _Gone as gone:
            if "within" in str(gone):
                self.hung[space, name] = f"`{name}` {gone} (an earlier call)"
                raise StudentCodeError("TimeoutError", f"`{name}` {gone}", "") from None
            raise StudentCodeError("ProcessDied", f"`{name}` {gone}", "") from None
        if not reply.get("ok"):
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            if error.get("type") == "NotImplementedError":
                raise NotImplementedError(str(error.get("message", "")))
            raise StudentCodeError(str(error.get("type", "Error"))[:100], str(error.get("message", ""))[:1000],
                                   str(error.get("where", ""))[:300])
        try:
            result = decode(reply.get("result"), blobs, lambda t, entry: _join_graph(t, entry, encoder.sources, blobs))
            _apply_in_place(reply.get("changed"), encoder.sources, blobs)
        except (WireError, RuntimeError, ValueError, TypeError) as exc:
            raise StudentCodeError("WireError", f"what `{name}` returned could not be read: {exc}", "") from None
        return result


def _message(error) -> str:
    error = error if isinstance(error, dict) else {}
    return f"{str(error.get('type', 'Error'))[:100]}: {str(error.get('message', ''))[:1000]}{str(error.get('where', ''))[:300]}"


def _join_graph(t: torch.Tensor, entry: dict, sources: dict[int, torch.Tensor], blobs: list[bytes]) -> torch.Tensor:
    jac = entry.get("jacobian")
    if jac == "too large":
        anchor = next((s for s in sources.values() if s.requires_grad), None)
        if anchor is not None and t.is_floating_point():
            return _TooLarge.apply(t, anchor)
    if isinstance(jac, dict) and jac and t.is_floating_point():
        inputs, matrices = [], []
        for key, value in jac.items():
            source = sources.get(int(key)) if str(key).isdigit() else None
            matrix = decode(value, blobs)
            if source is None or not torch.is_tensor(matrix) or tuple(matrix.shape) != (t.numel(), source.numel()):
                raise WireError("a Jacobian that does not fit its tensors")
            inputs.append(source)
            matrices.append(matrix.to(torch.float64))
        if any(x.requires_grad for x in inputs):
            return _FromStudent.apply(t, matrices, *inputs)
    if entry.get("student_grad") and t.is_floating_point():
        return t.requires_grad_(True)  # a gradient of its own making (a tensor created inside the function)
    return t


def _apply_in_place(changed, sources: dict[int, torch.Tensor], blobs: list[bytes]) -> None:
    if not changed:
        return
    if not isinstance(changed, dict):
        raise WireError("bad in-place report")
    for key, value in changed.items():
        source = sources.get(int(key)) if str(key).isdigit() else None
        new = decode(value, blobs)
        if source is None or not torch.is_tensor(new):
            raise WireError("bad in-place report")
        with torch.no_grad():
            if new.shape == source.shape:
                source.copy_(new.to(source.dtype))
            else:
                source.data = new.to(source.dtype)


class RemoteFunction:
    """Stands for a function (or class) the student defined; calling it runs it in their process."""

    def __init__(self, answers: StudentAnswers, space: str, name: str):
        self._answers, self._space, self.__name__ = answers, space, name

    def __call__(self, *args, **kwargs):
        return self._answers.call(self._space, self.__name__, args, kwargs)

    def remote_probe(self, probe, *args, **kwargs):
        """Run ``probe(<the student's object>, *args, **kwargs)`` in the student's process."""
        return self._answers.call(self._space, self.__name__, args, kwargs,
                                  probe=f"{probe.__module__}:{probe.__qualname__}")

    def __repr__(self) -> str:
        return f"<your {self.__name__}>"
