"""The student's side of scoring: run the answer cells in a process of their own, serve calls.

    python -m autograder.answers        # requests on stdin, replies on stdout (``autograder.wire``)

The scorer (``autograder.score``) starts this process, inside the grading sandbox, and sends it
the student's answer cells as source text, then calls the functions they define. Nothing of the
hidden checks or of the reference solutions is ever in this process, so nothing a student's code
does here (patching torch, rewriting modules, reading memory) can reach them: the replies are
data, which the scorer reads as the student's answer and checks on its own side.

Requests (a JSON header, tensors as blobs):

* ``exec``: run a cell's source in the notebook's namespace; reply with the names it defines;
* ``call``: call a defined name with arguments; reply with the result, the Jacobian of every
  result tensor that needs a gradient with respect to every argument tensor that has one (so the
  scorer can back-propagate through the student's function as if it ran there), and the new value
  of every argument the function changed in place;
* ``probe``: the same with a course helper from ``course_lib.probes`` wrapped around the name
  (exercises that need processes or optimizers of their own: the helper runs them here).

This file is not secret: students may read it. It runs as the sandbox's throw-away user.
"""
from __future__ import annotations

import importlib
import io
import os
import sys
import traceback
from typing import Any

import torch

from autograder.wire import Encoder, WireError, decode, read_frame, write_frame

MAX_JACOBIAN_ROWS = 4096
MAX_JACOBIAN_ELEMENTS = 4_000_000
PROBE_MODULES = ("course_lib.probes",)
CELL_PREFIX = "<answer cell "


class _NoShell:
    """What ``get_ipython()`` returns here: magics and shell escapes do nothing (no kernel here)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def python_source(source: str) -> str:
    """A cell's IPython syntax (magics, ``!cmd``) as plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def where_in_answers(tb) -> str:
    """' (line N of your cell `name`: the line)' for the deepest frame in the student's cells."""
    frames = [f for f in traceback.extract_tb(tb) if f.filename.startswith(CELL_PREFIX)]
    if not frames:
        return ""
    frame = frames[-1]
    cell = frame.filename[len(CELL_PREFIX):-1]
    line = f": {frame.line.strip()[:120]}" if frame.line else ""
    return f" (line {frame.lineno} of your cell `{cell}`{line})"


def describe(exc: BaseException) -> dict:
    return {"type": type(exc).__name__[:100], "message": str(exc)[:1000], "where": where_in_answers(exc.__traceback__)}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes and values, NaN equal to NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        nan = a.isnan()
        return torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])
    return torch.equal(a, b)


class Answers:
    def __init__(self):
        self.spaces: dict[str, dict] = {}
        self.sources: dict[str, str] = {}  # cell file name -> source, for tracebacks

    def space(self, name: str) -> dict:
        return self.spaces.setdefault(name, {"__name__": "__main__", "get_ipython": _NoShell})

    def exec_cell(self, space: str, name: str, source: str) -> dict:
        namespace = self.space(space)
        filename = f"{CELL_PREFIX}{name}>"
        python = python_source(source)
        self.sources[filename] = python
        import linecache

        linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)
        before = dict(namespace)
        try:
            exec(compile(python, filename, "exec", dont_inherit=True), namespace)
        except BaseException as exc:  # SystemExit (exit()), KeyboardInterrupt, MemoryError included
            return {"ok": False, "error": describe(exc), "memory": isinstance(exc, MemoryError),
                    "defined": self._defined(namespace, before)}
        return {"ok": True, "defined": self._defined(namespace, before)}

    @staticmethod
    def _defined(namespace: dict, before: dict) -> list[str]:
        return sorted(k for k, v in namespace.items()
                      if not k.startswith("_") and (k not in before or before[k] is not v)
                      and callable(v) and k.isidentifier())

    def target(self, space: str, name: str):
        namespace = self.spaces.get(space, {})
        if name not in namespace:
            raise NameError(f"`{name}` is not defined by your answer cells")
        return namespace[name]

    def call(self, header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        leaves: dict[int, torch.Tensor] = {}
        given: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # blob index -> (the argument, a copy)

        def as_input(t: torch.Tensor, entry: dict):
            index = entry["tensor"]
            if entry.get("grad") and t.is_floating_point():
                t.requires_grad_(True)
                leaves[index] = t
            given[index] = (t, t.detach().clone())
            return t

        inputs = decode(header.get("inputs"), blobs, as_input)
        if not isinstance(inputs, dict) or not isinstance(inputs.get("args"), list) or not isinstance(inputs.get("kwargs"), dict):
            raise WireError("a call needs args and kwargs")
        fn = self.target(str(header.get("space")), str(header.get("name")))
        if header.get("op") == "probe":
            module, _, qualname = str(header.get("probe")).partition(":")
            if module not in PROBE_MODULES:
                raise WireError(f"unknown probe {module}")
            probe = getattr(importlib.import_module(module), qualname)
            result = probe(fn, *inputs["args"], **inputs["kwargs"])
        else:
            result = fn(*inputs["args"], **inputs["kwargs"])
        return self._reply(result, leaves, given)

    def _reply(self, result: Any, leaves: dict[int, torch.Tensor], given: dict[int, tuple[torch.Tensor, torch.Tensor]]):
        encoder = Encoder()
        order = sorted(leaves)
        budget = [MAX_JACOBIAN_ELEMENTS]

        def jacobians(t: torch.Tensor) -> dict:
            if not t.requires_grad or not order:
                return {"student_grad": bool(t.requires_grad)}
            rows = t.numel()
            cost = rows * sum(leaves[i].numel() for i in order)
            if rows > MAX_JACOBIAN_ROWS or cost > budget[0]:
                return {"student_grad": True, "jacobian": "too large"}
            budget[0] -= cost
            flat = t.reshape(-1)
            per_leaf: dict[int, list] = {i: [] for i in order}
            used = {i: False for i in order}
            for k in range(rows):
                grads = torch.autograd.grad(flat[k], [leaves[i] for i in order], retain_graph=True, allow_unused=True)
                for i, g in zip(order, grads):
                    used[i] |= g is not None
                    per_leaf[i].append(torch.zeros_like(leaves[i]) if g is None else g.detach())
            jac = {}
            for i in order:
                if used[i]:
                    stacked = torch.stack(per_leaf[i]).reshape(rows, -1).to(torch.float64)
                    jac[str(i)] = encoder.tensor(stacked)
            return {"student_grad": True, "jacobian": jac}

        encoder.on_tensor = jacobians
        try:
            encoded = encoder.encode(result)
        except RuntimeError as exc:  # e.g. the student's function already called backward() on its result
            return {"ok": False, "error": {"type": "GradientError", "where": "",
                                           "message": f"the gradient of your result could not be computed: {exc}"}}, []
        encoder.on_tensor = None
        # In-place changes: every argument compared with its copy from before the call.
        changed = {str(i): encoder.tensor(t.detach()) for i, (t, old) in given.items() if not _same(t.detach(), old)}
        return {"ok": True, "result": encoded, "changed": changed}, encoder.blobs

    def serve(self, requests, replies) -> None:
        while True:
            try:
                header, blobs = read_frame(requests)
            except EOFError:
                return
            op = header.get("op")
            try:
                if op == "exec":
                    reply, out = self.exec_cell(str(header["space"]), str(header["name"]), str(header["source"])), []
                elif op in ("call", "probe"):
                    reply, out = self.call(header, blobs)
                else:
                    reply, out = {"ok": False, "error": {"type": "WireError", "message": f"unknown op {op!r}", "where": ""}}, []
            except BaseException as exc:  # the student's function raised (or asked to exit)
                reply, out = {"ok": False, "error": describe(exc), "memory": isinstance(exc, MemoryError)}, []
            reply["id"] = header.get("id")
            try:
                write_frame(replies, reply, out)
            except (TypeError, ValueError) as exc:  # a reply that cannot be written as JSON
                write_frame(replies, {"ok": False, "id": header.get("id"),
                                      "error": {"type": "WireError", "message": str(exc)[:300], "where": ""}})


def main() -> None:
    # The pipe to the scorer gets private descriptors; fds 0, 1 and 2 are what the student's code
    # may use (print, input), and lead nowhere.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = sys.stderr = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    torch.set_num_threads(1)
    write_frame(replies, {"ready": True})  # imports done: the scorer's deadlines start now
    Answers().serve(requests, replies)


if __name__ == "__main__":
    main()
