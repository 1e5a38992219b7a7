"""The scorer's side of the process boundary (the client of the answers process): a student's
functions, called from another process.

``AnswersClient`` starts the answers server (``autograder.sandboxed.answers_server``, in the
grading sandbox), sends it the
student's answer cells and hands out ``RemoteFunction`` proxies. A proxy is called like the
student's function: its arguments travel as data, the student's process runs the function, and
the result comes back as data. Result tensors that need a gradient come back with their Jacobian
with respect to every argument that has one, and are rebuilt here as nodes of the scorer's own
autograd graph (``autograder.sandboxed.jacobians``): ``loss.backward()`` in a hidden check reaches the
parameters of the scorer's model exactly as if the student's function had run in the scorer.
Arguments the function changed in place are changed here too, so a check for in-place changes
sees them.

Objects that cannot travel as data (a model, an optimizer) stay in the student's process, made
there by ``course_lib.builders`` and named here by a ``Handle``; what the student's code
does to them is read from outside, in the sandbox's shared memory (``shared_memory``,
``autograder.pipeline.shared``), never from a report of that process. Functions that a notebook's
students paste from an earlier notebook can be *stood in for* during a call: the student's
process calls back, and the course's own version runs here.

Every reply has a deadline. A cell or a call that does not answer in time, or that kills its
process, costs only itself: the process is started again and the cells that ran before are run
again (``replay``), so the next checks still find the student's other functions.
"""

from __future__ import annotations

import enum
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import torch

from autograder.pipeline.remote_bench import RemoteBench
from autograder.pipeline.shared import SharedFolder
from autograder.sandboxed.jacobians import encode_with_jacobians, join_graph
from autograder.sandboxed.protocol import Encoder, Handle, Opaque, WireError, decode, read_frame, write_frame
from course_lib.checks import NotWritten, StudentCodeError

__all__ = ["RemoteFunction", "AnswersClient", "Opaque", "Handle"]

# What the student's side may send to the scorer: a reply (the largest honest ones, a Nature CNN's
# parameters and gradients, are tens of MB), and the inputs of a call to a course's function that
# stands in for a pasted one (run here, on the host: its inputs bound its time; the updates the
# checks run send rollouts of at most a few thousand numbers).
MAX_REPLY_BYTES = 256 * 1024**2
MAX_CALLBACK_BYTES = 16 * 1024**2
MAX_CALLBACK_ELEMENTS = 65_536


class Gone(enum.Enum):
    """How the student's process stopped serving (the kind; the message says it to a student)."""

    TIMEOUT = "timeout"  # a reply (or the reading of a request) did not come in time
    DIED = "died"  # it ended (exit(), a crash, a limit)
    PROTOCOL = "protocol"  # it sent what it must not
    NOT_STARTED = "not started"  # its sandbox or its imports failed
    BUDGET = "budget"  # the notebook's time for scoring was used up
    BROKEN = "broken"  # its cells could not be run again after a restart


class _Gone(Exception):
    """The student's process stopped answering (timeout) or died: ``kind`` says which."""

    def __init__(self, kind: Gone, message: str):
        super().__init__(message)
        self.kind = kind


class CellProblem(str):
    """What went wrong running an answer cell (the text, for the student), and whether the cell was
    left out (``left_out``: its process hung, died or ran out of memory)."""

    left_out: bool

    def __new__(cls, text: str, left_out: bool = False) -> CellProblem:
        problem = super().__new__(cls, text)
        problem.left_out = left_out
        return problem


class AnswersProcess:
    """One answers server process, each reply awaited with a deadline.

    The deadlines count from when the process says it is ready (its imports done), so that a slow
    start on a busy machine does not eat the first cell's time.
    """

    def __init__(
        self,
        command: list[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        start_timeout: float = 120.0,
    ):
        self.proc: subprocess.Popen[bytes] = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        # Bounded: a process that sends what nobody asked for fills a pipe, not the scorer's memory.
        self.replies: queue.Queue = queue.Queue(maxsize=2)
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            ready = self.replies.get(timeout=start_timeout)
        except queue.Empty:
            ready = None
        if not (isinstance(ready, tuple) and ready[0].get("ready")):
            self.kill()
            raise _Gone(Gone.NOT_STARTED, "did not start (its sandbox or its imports failed)")

    def _read(self) -> None:
        try:
            while True:
                assert self.proc.stdout is not None  # a pipe: Popen was given stdout=PIPE
                self.replies.put(read_frame(self.proc.stdout, MAX_REPLY_BYTES))
        except (EOFError, WireError, OSError, ValueError) as exc:
            self.replies.put(exc)

    def request(
        self,
        header: dict,
        blobs: list[bytes],
        timeout: float,
        callback: Callable[[dict, list[bytes]], tuple[dict, list[bytes]]] | None = None,
    ) -> tuple[dict, list[bytes]]:
        """Send one request; wait for its reply, answering the callbacks that come meanwhile."""
        self.next_id += 1
        header = {**header, "id": self.next_id}
        deadline = time.monotonic() + timeout
        self._send(header, blobs, timeout)
        while True:
            try:
                reply = self.replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _Gone(Gone.TIMEOUT, f"did not finish within {timeout:.0f} s") from None
            if isinstance(reply, Exception):
                self.replies.put(reply)
                if isinstance(reply, EOFError):
                    raise _Gone(
                        Gone.DIED,
                        "stopped: the process running your code died (exit(), os._exit(), a crash, or the memory limit)",
                    )
                raise _Gone(Gone.PROTOCOL, f"broke the protocol ({reply})")
            if reply[0].get("op") == "callback":
                if callback is None:
                    raise _Gone(Gone.PROTOCOL, "broke the protocol (a callback where none was offered)")
                self._send(*callback(*reply), max(0.1, deadline - time.monotonic()))
                continue
            if reply[0].get("id") != self.next_id:  # nothing else is waiting for a reply
                raise _Gone(Gone.PROTOCOL, "broke the protocol (a message that answers no request)")
            return reply

    def _send(self, header: dict, blobs: list[bytes], timeout: float) -> None:
        writer = threading.Thread(target=self._write, args=(header, blobs), daemon=True)
        writer.start()  # a process that stops reading must not block the scorer on a full pipe
        writer.join(timeout)
        if writer.is_alive():
            raise _Gone(Gone.TIMEOUT, f"did not read its input within {timeout:.0f} s")

    def _write(self, header: dict, blobs: list[bytes]) -> None:
        try:
            assert self.proc.stdin is not None  # a pipe: Popen was given stdin=PIPE
            write_frame(self.proc.stdin, header, blobs)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the reader sees the end of the pipe

    def sandbox_root(self) -> str | None:
        """The sandbox's root folder as the host reaches it: ``/proc/<its first process>/root``
        (bwrap's first process inside the namespaces, which bwrap made: not the student's)."""
        try:
            children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            return None
        return f"/proc/{children[0]}/root" if children else None

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
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def default_command() -> list[str]:
    return [sys.executable, "-m", "autograder.sandboxed.answers_server"]


class AnswersClient:
    """A student's answer cells, run in a process of their own, and calls into them.

    ``own_shm``: the process runs in bwrap's namespaces (its ``/dev/shm`` is then its own, read
    through its root); else it shares the machine's ``/dev/shm``. ``files_uid``: the uid the
    student's code runs as, who gets the files the scorer makes there (else they are 0600 of ours).
    """

    def __init__(
        self,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        call_timeout: float = 20.0,
        budget: float = 180.0,
        own_shm: bool = False,
        files_uid: int | None = None,
    ):
        self.command, self.env, self.cwd = command or default_command(), env, cwd
        self.call_timeout, self.own_shm, self.files_uid = call_timeout, own_shm, files_uid
        self.deadline = time.monotonic() + budget
        self.cells: list[tuple[dict, bool]] = []  # (cell, whether it ran to its end): replayed after a restart
        self.defined: dict[str, set[str]] = {}
        self.process: AnswersProcess | None = None
        self.broken: _Gone | None = None  # why no more calls can be made (replay failed, budget spent)
        self.hung: dict[tuple[str, str], str] = {}  # functions that did not return in time: not called again
        self.stand_in_code: dict[str, dict[str, Callable]] = {}  # space -> name -> the course's version
        self._shared: SharedFolder | None = None

    # ----------------------------------------------------------------- process life
    def set_budget(self, seconds: float) -> None:
        """Seconds from now for what follows (each notebook gets its own)."""
        self.deadline = time.monotonic() + seconds
        if self.broken is not None and self.broken.kind is Gone.BUDGET:
            self.broken = None

    def _timeout(self, wanted: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.broken = _Gone(Gone.BUDGET, "the time for scoring this notebook was used up")
            raise self.broken
        return min(wanted, left)

    def _process(self) -> AnswersProcess:
        if self.broken is not None:
            raise _Gone(self.broken.kind, str(self.broken))
        if self.process is None:
            self.process = AnswersProcess(self.command, self.env, self.cwd, start_timeout=self._timeout(120.0))
            for cell, ran in self.cells:  # replay: the state the next call expects
                try:
                    reply, _ = self.process.request(cell, [], self._timeout(self.call_timeout))
                except _Gone as gone:
                    self.close()
                    self.broken = _Gone(
                        Gone.BROKEN, f"your answer cells could not be run again after a restart ({gone})"
                    )
                    raise _Gone(Gone.BROKEN, str(self.broken)) from None
                if bool(reply.get("ok")) != ran:
                    self.close()
                    self.broken = _Gone(Gone.BROKEN, "your answer cells did not run the same way twice")
                    raise _Gone(Gone.BROKEN, str(self.broken))
        return self.process

    def _request(self, header: dict, blobs: list[bytes], callback=None) -> tuple[dict, list[bytes]]:
        process = self._process()
        try:
            reply, out = process.request(header, blobs, self._timeout(self.call_timeout), callback)
        except _Gone:
            self.close()  # the next request starts a new process and replays the cells
            raise
        if reply.get("memory"):
            self.close()  # whatever filled the memory goes with the process
        return reply, out

    def shared_memory(self):
        """The student's process's ``/dev/shm``, read and written from here (``autograder.pipeline.shared``);
        a new view whenever the process was started again."""
        process = self._process()
        if self._shared is None or self._shared.owner is not process:
            if self._shared is not None:
                self._shared.close()
            root = process.sandbox_root() if self.own_shm else ""
            if root is None:
                raise StudentCodeError("ProcessDied", "the process running your code is gone", "")
            self._shared = SharedFolder(f"{root}/dev/shm", owner=process, uid=self.files_uid)
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        if self.process is not None:
            self.process.kill()
            self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- cells and calls
    def exec_cell(self, space: str, name: str, source: str) -> CellProblem | None:
        """Run one answer cell; None when it ran, else what went wrong (``CellProblem.left_out``: the
        cell is left out; else it raised, and what it defined before stays defined, as in a notebook)."""
        header = {"op": "exec", "space": space, "name": name, "source": source}
        try:
            reply, _ = self._request(header, [])
        except _Gone as gone:
            return CellProblem(f"your cell `{name}` {gone}; it was left out", left_out=True)
        names = reply.get("defined")
        if isinstance(names, list):
            self.defined.setdefault(space, set()).update(n for n in names if isinstance(n, str) and n.isidentifier())
        if reply.get("ok"):
            self.cells.append((header, True))
            return None
        if reply.get("memory"):
            return CellProblem(f"your cell `{name}` ran out of memory; it was left out", left_out=True)
        self.cells.append((header, False))  # what ran before the error stays defined, as in a notebook
        return CellProblem(_message(reply.get("error")))

    def stand_in(self, space: str, code: dict[str, Callable]) -> None:
        """Let the functions ``code`` names (pasted from earlier notebooks) be the course's own
        versions, run here, during the calls of ``space`` that ask for them (``stands_in_for``)."""
        self.stand_in_code[space] = dict(code)

    def functions(
        self, space: str, stands_in_for: dict[str, tuple[str, ...]] | None = None
    ) -> dict[str, RemoteFunction]:
        """Proxies for what the answer cells of ``space`` defined; a call of ``name`` runs with the
        names ``stands_in_for[name]`` stood in for (see ``stand_in``)."""
        stands_in_for = stands_in_for or {}
        return {
            name: RemoteFunction(self, space, name, stands_in_for.get(name, ()))
            for name in sorted(self.defined.get(space, ()))
        }

    def call(
        self,
        space: str,
        name: str,
        args: tuple,
        kwargs: dict,
        *,
        target: dict | None = None,
        keep: bool = False,
        stand_ins: tuple[str, ...] = (),
    ):
        """Call ``name`` of ``space`` (or ``target``: a builder, a kept object's method) with
        ``args``; its result as data, or a ``Handle`` to it when ``keep``."""
        if (space, name) in self.hung:  # each hang costs its timeout once, not once per check
            raise StudentCodeError("TimeoutError", self.hung[space, name], "")
        encoder = Encoder()
        inputs = encoder.encode({"args": list(args), "kwargs": kwargs})
        header = {
            "op": "call",
            "target": target or {"space": space, "name": name},
            "inputs": inputs,
            "keep": keep,
            "stand_ins": list(stand_ins),
        }
        code = {n: self.stand_in_code.get(space, {}).get(n) for n in stand_ins}
        callback = (lambda h, b: _callback(code, h, b)) if stand_ins else None  # none offered: none answered
        try:
            reply, blobs = self._request(header, encoder.blobs, callback=callback)
        except _Gone as gone:
            if gone.kind is Gone.TIMEOUT:
                self.hung[space, name] = f"`{name}` {gone} (an earlier call)"
                raise StudentCodeError("TimeoutError", f"`{name}` {gone}", "") from None
            raise StudentCodeError("ProcessDied", f"`{name}` {gone}", "") from None
        if not reply.get("ok"):
            error: dict = reply["error"] if isinstance(reply.get("error"), dict) else {}
            if error.get("type") == "NotImplementedError":
                function = error.get("function")
                raise NotWritten(str(error.get("message", ""))[:1000], function if isinstance(function, str) else "")
            raise StudentCodeError(
                str(error.get("type", "Error"))[:100],
                str(error.get("message", ""))[:1000],
                str(error.get("where", ""))[:300],
            )
        if keep:
            handle = reply.get("handle")
            if not isinstance(handle, int) or isinstance(handle, bool):
                raise StudentCodeError("WireError", f"`{name}` kept no object", "")
            return Handle(handle)
        try:
            result = decode(reply.get("result"), blobs, lambda t, entry: join_graph(t, entry, encoder.sources, blobs))
            _apply_in_place(reply.get("changed"), encoder.sources, blobs)
        except (WireError, RuntimeError, ValueError, TypeError) as exc:
            raise StudentCodeError("WireError", f"what `{name}` returned could not be read: {exc}", "") from None
        return result

    def build(self, builder: str, *args, keep: bool = True, **kwargs):
        """A builder of ``course_lib.builders`` run in the student's process (a model, an optimizer, a
        rollout made there): a ``Handle`` to what it made (or its result as data, ``keep=False``)."""
        return self.call("", builder, args, kwargs, target={"builder": builder}, keep=keep)

    def method(self, handle: Handle, method: str, *args, keep: bool = False, **kwargs):
        return self.call("", method, args, kwargs, target={"handle": handle.id, "method": method}, keep=keep)


def _callback(code: dict[str, Callable | None], header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
    """Run the course's version of a stood-in function on what the student's process sent; the
    result with its Jacobians, as data."""
    fn = code.get(str(header.get("name")))
    if fn is None:
        return {"op": "callback_result", "ok": False, "error": "no such function stands in here"}, []
    leaves: dict[int, torch.Tensor] = {}

    def as_input(t: torch.Tensor, entry: dict):
        if entry.get("grad") and t.is_floating_point():
            t.requires_grad_(True)
            leaves[entry["tensor"]] = t
        return t

    if sum(len(b) for b in blobs) > MAX_CALLBACK_BYTES:
        return {"op": "callback_result", "ok": False, "error": "inputs too large for the course's version"}, []
    try:
        inputs = decode(header.get("inputs"), blobs, as_input)
        if _elements(inputs) > MAX_CALLBACK_ELEMENTS:  # the course's functions run here, on the host
            raise WireError(f"inputs of more than {MAX_CALLBACK_ELEMENTS:,} numbers")
        if (
            not isinstance(inputs, dict)
            or not isinstance(inputs.get("args"), list)
            or not isinstance(inputs.get("kwargs"), dict)
        ):
            raise WireError("a call needs args and kwargs")
        with torch.enable_grad():
            result = fn(*inputs["args"], **inputs["kwargs"])
        encoder = Encoder()
        encoded = encode_with_jacobians(result, leaves, encoder)
    except Exception as exc:  # bad inputs from the student's side: their call fails, not the scorer
        return {"op": "callback_result", "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}, []
    return {"op": "callback_result", "ok": True, "result": encoded}, encoder.blobs


def _elements(value) -> int:
    if torch.is_tensor(value):
        return value.numel()
    if isinstance(value, dict):
        return sum(_elements(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_elements(v) for v in value)
    return 1


def _message(error) -> str:
    error = error if isinstance(error, dict) else {}
    return f"{str(error.get('type', 'Error'))[:100]}: {str(error.get('message', ''))[:1000]}{str(error.get('where', ''))[:300]}"


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
    """Stands for a function (or class) the student defined; calling it runs it in their process.

    ``stand_ins``: names its calls run with the course's versions of (see ``AnswersClient.stand_in``).
    """

    def __init__(self, answers: AnswersClient, space: str, name: str, stand_ins: tuple[str, ...] = ()):
        self._answers, self._space, self.__name__ = answers, space, name
        self.stand_ins = tuple(stand_ins)

    def __call__(self, *args, **kwargs):
        return self._answers.call(self._space, self.__name__, args, kwargs, stand_ins=self.stand_ins)

    def keep(self, *args, **kwargs) -> Handle:
        """Call it (a class: make an instance) and keep the result in the student's process."""
        return self._answers.call(self._space, self.__name__, args, kwargs, keep=True, stand_ins=self.stand_ins)

    def course_bench(self):
        """The bench the checks run this class or function on (``course_lib.bench.bench_for``): its
        objects made in the student's process, their values read from outside."""
        return RemoteBench(self)

    def __repr__(self) -> str:
        return f"<your {self.__name__}>"
