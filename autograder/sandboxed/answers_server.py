"""The student's side of scoring: run the answer cells in a process of their own, serve calls.

    python -m autograder.sandboxed.answers_server   # requests on stdin, replies on stdout (``protocol``)

The scorer (``autograder.pipeline.scorer``, through ``autograder.pipeline.answers_client``) starts this process, inside the grading sandbox, and sends it
the student's answer cells as source text, then calls the functions they define. Nothing of the
hidden checks or of the reference solutions is ever in this process, so nothing a student's code
does here (patching torch, rewriting modules, reading memory) can reach them: the replies are
data, which the scorer reads as the student's answer and checks on its own side. Nothing this
process *reports about itself* is trusted either: what the checks measure (what an optimizer keeps
in shared memory, what an update did to a model) the scorer reads from outside, in the memory of
this sandbox (``autograder.pipeline.shared``).

Requests (a JSON header, tensors as blobs):

* ``exec``: run a cell's source in the notebook's namespace; reply with the names it defines;
* ``call``: call a target with arguments and reply with the result (with the Jacobian of every
  result tensor that needs a gradient with respect to every argument tensor that has one, so the
  scorer can back-propagate through the student's function as if it ran there, and the new value
  of every argument the function changed in place), or keep the result here and reply with a
  handle (``keep``). A target is a name the answer cells defined, a builder of
  ``course_lib.builders`` (``BUILDERS``: it makes the models, optimizers and rollouts a check runs
  the student's code on), or a method of a kept object. ``stand_ins``: names of the notebook
  that, during this call, call back into the scorer (the course's own version of a function pasted
  from an earlier notebook, ``callback`` frames on the same pipe).

This file is not secret: students may read it. It runs as the sandbox's throw-away user.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import linecache
import os
import sys
import traceback
import types
from collections.abc import Mapping
from typing import Any

import torch
import torch.multiprocessing as torch_multiprocessing

from autograder.sandboxed.jacobians import encode_with_jacobians, join_graph
from autograder.sandboxed.protocol import Encoder, WireError, decode, read_frame, write_frame
from course_lib import builders

CELL_PREFIX = "<answer cell "
MAX_OBJECTS = 10_000


class _NoShell:
    """What ``get_ipython()`` returns here: magics and shell escapes do nothing (no kernel here)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def python_source(source: str) -> str:
    """A cell's IPython syntax (magics, ``!cmd``) as plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager  # lazy: IPython may be absent
    except ImportError:
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _answer_frames(tb) -> list:
    return [f for f in traceback.extract_tb(tb) if f.filename.startswith(CELL_PREFIX)]


def where_in_answers(tb) -> str:
    """' (line N of your code: the line)' for the deepest frame in the student's cells: what
    ``course_lib.checks.describe_error`` says in a notebook, so that a check's message is the same."""
    frames = _answer_frames(tb)
    if not frames:
        return ""
    frame = frames[-1]
    line = f": {frame.line.strip()[:120]}" if frame.line else ""
    return f" (line {frame.lineno} of your code{line})"


def describe(exc: BaseException) -> dict:
    frames = _answer_frames(exc.__traceback__)
    return {
        "type": type(exc).__name__[:100],
        "message": str(exc)[:1000],
        "where": where_in_answers(exc.__traceback__),
        "function": frames[-1].name[:100] if frames else "",
    }


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes and values, NaN equal to NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        nan = a.isnan()
        return torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])
    return torch.equal(a, b)


class CallbackFailed(Exception):
    """The course's stand-in for a function could not compute (its message says why)."""


class _StandIn:
    """In place of a function pasted from an earlier notebook, during one call: asks the scorer,
    which runs the course's own version, and joins its result to this side's graph."""

    def __init__(self, answers: AnswersServer, name: str):
        self._answers, self.__name__ = answers, name

    def __call__(self, *args, **kwargs):
        encoder = Encoder()
        inputs = encoder.encode({"args": list(args), "kwargs": kwargs})
        write_frame(self._answers.replies, {"op": "callback", "name": self.__name__, "inputs": inputs}, encoder.blobs)
        header, blobs = read_frame(self._answers.requests)
        if header.get("op") != "callback_result":
            raise WireError("expected the result of a callback")
        if not header.get("ok"):
            raise CallbackFailed(
                f"the course's {self.__name__} could not run on these inputs: {str(header.get('error', ''))[:500]}"
            )
        return decode(header.get("result"), blobs, lambda t, entry: join_graph(t, entry, encoder.sources, blobs))

    def __repr__(self) -> str:
        return f"<the course's {self.__name__}>"


# What the builders are made of: the modules whose functions and classes they call. Each function
# and class found in them (and each attribute of those classes) when the server starts, before any
# answer cell runs, must still be the same object, with the same code, when a builder runs.
SURFACE_MODULES = (
    "course_lib.builders",
    "course_lib.probes",
    "course_lib.bench",
    "course_lib.networks",
    "course_lib.runners",
    "course_lib.hogwild",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.utils",
    "torch.nn.utils.clip_grad",
    "torch.optim",
    "torch.optim.sgd",
    "torch.optim.optimizer",
    "torch.distributions",
    "torch.distributions.categorical",
    "autograder.sandboxed.answers_server",  # this server's own methods (the check itself among them)
    "autograder.sandboxed.protocol",
    "autograder.sandboxed.jacobians",
)


class Tampered(Exception):
    """The student's code replaced something the checks' builders use."""


def _is_code(value) -> bool:
    return callable(value) or isinstance(value, type)


def _identity(value) -> tuple:
    """The object, and for a Python function what it is made of: its code and defaults can be
    replaced in place, where a call reads them (the objects themselves, kept: compared with ``is``,
    no address of a freed object can come back as another's). A class, a builtin or a descriptor is
    its identity alone: an attribute named ``__code__`` set on one changes no call."""
    if isinstance(value, types.FunctionType):
        return (value, value.__code__, value.__defaults__, value.__kwdefaults__)
    return (value,)


def _same_identity(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


# torch's global hooks: a function registered there runs inside every optimizer step or module call
# without replacing anything (their contents are snapshotted as a class's attributes are)
GLOBAL_HOOKS = (
    ("torch.optim.optimizer", "_global_optimizer_pre_hooks"),
    ("torch.optim.optimizer", "_global_optimizer_post_hooks"),
    ("torch.nn.modules.module", "_global_forward_hooks"),
    ("torch.nn.modules.module", "_global_forward_pre_hooks"),
    ("torch.nn.modules.module", "_global_backward_hooks"),
    ("torch.nn.modules.module", "_global_backward_pre_hooks"),
    ("torch.nn.modules.module", "_global_module_registration_hooks"),
    ("torch.nn.modules.module", "_global_parameter_registration_hooks"),
    ("torch.nn.modules.module", "_global_buffer_registration_hooks"),
)


def settle_torch() -> None:
    """Let torch make, before the snapshot, the changes it makes to its own functions on first use:
    importing ``torch._dynamo`` (which an optimizer's step does) wraps ``torch.manual_seed`` and
    others, and an optimizer class's first instance wraps its ``step`` (profiling hooks)."""
    import torch._dynamo  # noqa: F401  (lazy: importing it is the first-use change settled here)

    params = [torch.nn.Parameter(torch.zeros(2, 2))]
    todo = [torch.optim.Optimizer]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("torch.optim."):
            try:
                cls(params)  # type: ignore[call-arg]  # each optimizer class, with its defaults
            except Exception:  # an optimizer that wants other settings: its step is wrapped when used
                continue


def surface() -> dict[str, tuple[Mapping[str, Any], str, tuple, bool]]:
    """Name -> (the namespace that holds it, its key there, its identity, whether it is a hooks
    dictionary) for each function and class of ``SURFACE_MODULES`` and each attribute of those
    classes (with its code and defaults for a Python function), and torch's global hooks: what a
    builder's run depends on."""
    found: dict[str, tuple[Mapping[str, Any], str, tuple, bool]] = {}
    classes = {}
    for module_name in SURFACE_MODULES:
        namespace = vars(importlib.import_module(module_name))
        for key, value in list(namespace.items()):
            if _is_code(value):
                found[f"{module_name}.{key}"] = (namespace, key, _identity(value), False)
                if isinstance(value, type) and (value.__module__ or "").startswith(
                    ("torch", "course_lib", "autograder")
                ):
                    classes[f"{module_name}.{key}"] = value
    for name, cls in classes.items():
        view = cls.__dict__  # a read-only view of the class's own attributes, always current
        for key, value in list(view.items()):
            if _is_code(value) or isinstance(value, (staticmethod, classmethod, property)):
                found[f"{name}.{key}"] = (view, key, _identity(value), False)
    for module_name, hooks in GLOBAL_HOOKS:
        module = importlib.import_module(module_name)
        if isinstance(getattr(module, hooks, None), dict):
            found[f"{module_name}.{hooks}"] = (vars(module), hooks, _hooks(getattr(module, hooks)), True)
    return found


def _hooks(hooks) -> tuple:
    """A global hooks dictionary's identity: the dictionary and each hook in it."""
    return (hooks, *hooks.values()) if isinstance(hooks, dict) else (hooks,)


class AnswersServer:
    def __init__(self, requests=None, replies=None):
        self.spaces: dict[str, dict] = {}
        self.sources: dict[str, str] = {}  # cell file name -> source, for tracebacks
        self.objects: dict[int, Any] = {}  # kept results, by handle
        self.requests, self.replies = requests, replies
        # Taken before any answer cell runs: the builders the checks call, and what they are made of.
        self.builders = {name: getattr(builders, name) for name in builders.BUILDERS}
        settle_torch()
        self.surface = surface()

    def tampered(self) -> list[str]:
        """What of the builders' surface the answer cells replaced (or changed the code of).

        Run before every builder and after every call (about 12,000 names): the common case, the
        same object (and for a function the same code and defaults), is decided inline; a hooks
        dictionary, the same object with other contents, is compared whole. Which entry is a hooks
        dictionary is marked in the snapshot, not read from a list of names. (Rebinding this
        module's own functions, ``_same_identity`` say, defeats the check, as it always did: the
        answer cells run in this process.)"""
        missing = object()
        changed = []
        for name, (namespace, key, identity, hooks) in self.surface.items():
            value = namespace.get(key, missing)
            if value is identity[0] and not hooks:
                if not identity[1:] or (  # no global looked up here: the answer cells run in this process
                    value.__code__ is identity[1]
                    and value.__defaults__ is identity[2]
                    and value.__kwdefaults__ is identity[3]
                ):
                    continue
            now = _hooks(value) if hooks else _identity(value)
            if not _same_identity(now, identity):
                changed.append(name)
        return changed

    def refuse_if_tampered(self) -> None:
        changed = AnswersServer.tampered(self)
        if changed or "tampered" in vars(self) or "refuse_if_tampered" in vars(self):
            raise Tampered(
                f"your code replaced {', '.join(changed[:3])}{' and more' if len(changed) > 3 else ''}: functions "
                "of torch's or the course's that the checks rely on (to build the models and optimizers your "
                "code runs on, and to run it). Nothing your code returns is scored while they are replaced: "
                "your answers must leave them as they are."
            )

    def space(self, name: str) -> dict:
        return self.spaces.setdefault(name, {"__name__": "__main__", "get_ipython": _NoShell})

    def exec_cell(self, space: str, name: str, source: str) -> dict:
        namespace = self.space(space)
        filename = f"{CELL_PREFIX}{name}>"
        python = python_source(source)
        self.sources[filename] = python
        linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)
        before = dict(namespace)
        try:
            exec(compile(python, filename, "exec", dont_inherit=True), namespace)
        except BaseException as exc:  # SystemExit (exit()), KeyboardInterrupt, MemoryError included
            return {
                "ok": False,
                "error": describe(exc),
                "memory": isinstance(exc, MemoryError),
                "defined": self._defined(namespace, before),
            }
        return {"ok": True, "defined": self._defined(namespace, before)}

    @staticmethod
    def _defined(namespace: dict, before: dict) -> list[str]:
        return sorted(
            k
            for k, v in namespace.items()
            if not k.startswith("_") and (k not in before or before[k] is not v) and callable(v) and k.isidentifier()
        )

    def _object(self, handle: int):
        if handle not in self.objects:
            raise WireError(f"no object {handle} here (the process was restarted?)")
        return self.objects[handle]

    def target(self, target: dict):
        if "builder" in target:
            name = str(target["builder"])
            if name not in self.builders:  # taken before any answer ran (BUILDERS itself could be replaced)
                raise WireError(f"unknown builder {name!r}")
            AnswersServer.refuse_if_tampered(self)
            return self.builders[name]
        if "handle" in target:
            method = str(target.get("method", ""))
            if not method.isidentifier() or method.startswith("_"):
                raise WireError(f"not a method name: {method!r}")
            return getattr(self._object(target["handle"]), method)
        space, name = str(target.get("space")), str(target.get("name"))
        namespace = self.spaces.get(space, {})
        if name not in namespace:
            raise NameError(f"`{name}` is not defined by your answer cells")
        return namespace[name]

    @contextlib.contextmanager
    def standing_in(self, space: str | None, names: list[str]):
        """During a call: ``names`` of the notebook's namespace call back to the scorer."""
        namespace = self.spaces.get(str(space), {}) if names else {}
        missing = object()
        saved = {name: namespace.get(name, missing) for name in names if isinstance(name, str) and name.isidentifier()}
        for name in saved:
            namespace[name] = _StandIn(self, name)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is missing:
                    namespace.pop(name, None)
                else:
                    namespace[name] = value

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

        inputs = decode(header.get("inputs"), blobs, as_input, on_handle=self._object)
        if (
            not isinstance(inputs, dict)
            or not isinstance(inputs.get("args"), list)
            or not isinstance(inputs.get("kwargs"), dict)
        ):
            raise WireError("a call needs args and kwargs")
        target = header.get("target")
        if not isinstance(target, dict):
            raise WireError("a call needs a target")
        fn = self.target(target)
        stand_ins = header.get("stand_ins") or []
        with self.standing_in(target.get("space"), stand_ins if isinstance(stand_ins, list) else []):
            result = fn(*inputs["args"], **inputs["kwargs"])
        AnswersServer.refuse_if_tampered(self)  # what a call changed on its way is not scored either
        if header.get("keep"):
            if len(self.objects) >= MAX_OBJECTS:
                raise WireError("too many objects kept")
            handle = len(self.objects) + 1
            self.objects[handle] = result
            return {"ok": True, "handle": handle, "type": type(result).__name__[:100]}, []
        return self._reply(result, leaves, given)

    def _reply(self, result: Any, leaves: dict[int, torch.Tensor], given: dict[int, tuple[torch.Tensor, torch.Tensor]]):
        encoder = Encoder()
        try:
            encoded = encode_with_jacobians(result, leaves, encoder)
        except RuntimeError as exc:  # e.g. the student's function already called backward() on its result
            return {
                "ok": False,
                "error": {
                    "type": "GradientError",
                    "where": "",
                    "message": f"the gradient of your result could not be computed: {exc}",
                },
            }, []
        # In-place changes: every argument compared with its copy from before the call.
        changed = {str(i): encoder.tensor(t.detach()) for i, (t, old) in given.items() if not _same(t.detach(), old)}
        return {"ok": True, "result": encoded, "changed": changed}, encoder.blobs

    def serve(self) -> None:
        while True:
            try:
                header, blobs = read_frame(self.requests)
            except EOFError:
                return
            op = header.get("op")
            out: list[bytes] = []
            try:
                if op == "exec":
                    reply, out = self.exec_cell(str(header["space"]), str(header["name"]), str(header["source"])), []
                elif op == "call":
                    reply, out = self.call(header, blobs)
                else:
                    reply, out = (
                        {"ok": False, "error": {"type": "WireError", "message": f"unknown op {op!r}", "where": ""}},
                        [],
                    )
            except BaseException as exc:  # the student's function raised (or asked to exit)
                reply, out = {"ok": False, "error": describe(exc), "memory": isinstance(exc, MemoryError)}, []
            reply["id"] = header.get("id")
            try:
                write_frame(self.replies, reply, out)
            except (TypeError, ValueError) as exc:  # a reply that cannot be written as JSON
                write_frame(
                    self.replies,
                    {
                        "ok": False,
                        "id": header.get("id"),
                        "error": {"type": "WireError", "message": str(exc)[:300], "where": ""},
                    },
                )


def main() -> None:
    # The pipe to the scorer gets private descriptors; fds 0, 1 and 2 are what the student's code
    # may use (print, input), and lead nowhere.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    # Buffered: what the student prints goes nowhere, a write per print cost a flood a system call
    # per line (a million lines: 1.8 s of CPU against 0.3 s)
    sys.stdout = sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16))
    torch.set_num_threads(1)
    # Tensors put in shared memory get a name in /dev/shm, where the scorer can read them from outside.
    torch_multiprocessing.set_sharing_strategy("file_system")
    write_frame(replies, {"ready": True})  # imports done: the scorer's deadlines start now
    AnswersServer(requests, replies).serve()


if __name__ == "__main__":
    main()
