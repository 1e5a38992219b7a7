"""Helpers for the sanity checks that follow every exercise.

They turn a wrong answer into a sentence a student can act on: which input, what was expected,
what came back, and the student's own line when their code raised. The same helpers serve the
hidden checks at grading time, where the student's function runs in another process: errors from
there arrive as ``StudentCodeError``, and ``run_probe`` runs a helper next to the student's code.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class CheckFailed(AssertionError):
    """A sanity check found a mistake; the message says what to fix."""


class StudentCodeError(Exception):
    """The student's code raised in another process (the grader's): its type, message and line."""

    def __init__(self, type_name: str, message: str, where: str = ""):
        super().__init__(f"{type_name}: {message}{where}")
        self.type_name, self.message, self.where = type_name, message, where


class NotWritten(NotImplementedError):
    """The student's code raised ``NotImplementedError`` in another process (the grader's);
    ``function``: the function that raised it (an exercise not written yet)."""

    def __init__(self, message: str = "", function: str = ""):
        super().__init__(message)
        self.function = function


# The methods of an exercise's class: a NotImplementedError raised in one is the exercise's own.
_OWN_METHODS = {"__init__", "__call__", "step", "forward"}


# Frames in these folders are library code, never "the student's line".
_LIBRARY_DIRS = tuple(
    {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    | {str(Path(__file__).resolve().parent)}
)


def _is_library(filename: str, library_dirs: tuple[str, ...]) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(library_dirs) or filename.startswith("<frozen")
    except (OSError, ValueError):
        return False


def _student_frames(exc: BaseException, library_dirs: tuple[str, ...] = ()) -> list:
    library = _LIBRARY_DIRS + tuple(library_dirs)
    return [f for f in traceback.extract_tb(exc.__traceback__) if not _is_library(f.filename, library)]


def raised_in(exc: BaseException, library_dirs: tuple[str, ...] = ()) -> str:
    """The name of the student's function that raised ``exc`` ('' when unknown)."""
    if isinstance(exc, NotWritten):
        return exc.function
    frames = _student_frames(exc, library_dirs)
    return frames[-1].name if frames else ""


def not_written(name: str, exc: BaseException, library_dirs: tuple[str, ...] = ()) -> str:
    """What to say when calling ``name`` raised ``NotImplementedError``: that it is not written yet,
    or that a function it calls is not (a pasted function left blank, say)."""
    other = raised_in(exc, library_dirs)
    if other and other != name and other not in _OWN_METHODS and other.isidentifier() and other != "<module>":
        return (
            f"`{name}` calls `{other}`, which is not written yet (it raised NotImplementedError): write or paste "
            f"`{other}` and run its cell."
        )
    return f"`{name}` is not written yet: replace `raise NotImplementedError()` with your code."


def describe_error(exc: BaseException, library_dirs: tuple[str, ...] = ()) -> str:
    """'ValueError: message (line 7 of your code: the line)', pointing at the deepest frame of the
    student's code (not in Python's or course_lib's folders, nor in ``library_dirs``), not at the
    torch internals where the error surfaced."""
    if isinstance(exc, StudentCodeError):
        return str(exc)
    frames = _student_frames(exc, library_dirs)
    where = ""
    if frames:
        frame = frames[-1]
        line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
        where = f" (line {frame.lineno} of your code" + (f": {line[:120]}" if line else "") + ")"
    text = str(exc)
    text = text if len(text) <= 500 else text[:500] + " [...]"
    return f"{type(exc).__name__}: {text}{where}"


def run_probe(probe: Callable, target, *args, **kwargs):
    """``probe(bench, *args, **kwargs)``: a probe of ``course_lib.probes`` run on the bench of the
    student's ``target`` (``course_lib.bench.bench_for``): here in a notebook; when the grader scores
    a submission, on objects made in the student's process and read from outside. The probe is the
    same code either way, so it reports the same quantities; a failure becomes a ``CheckFailed``."""
    from course_lib.bench import bench_for

    name = getattr(target, "__name__", "your code")
    try:
        with stderr_to_stdout():
            report = probe(bench_for(target), *args, **kwargs)
    except NotImplementedError as exc:
        raise CheckFailed(not_written(name, exc)) from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's bug, reported as a failed check
        raise CheckFailed(f"`{name}` raised {describe_error(exc)}") from None
    where = _not_finite(report)
    if where:
        raise CheckFailed(
            f"`{name}` left NaN or inf behind ({where}): look for a division by zero or a log of 0, or a step "
            "that blew up."
        )
    return report


def _not_finite(value, path: str = "") -> str:
    """Where the first NaN or inf is in a probe's report (tensors in dicts and lists), '' if none."""
    if torch.is_tensor(value):
        return path or "a result" if value.is_floating_point() and not bool(torch.isfinite(value).all()) else ""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if key in ("logs", "state_before", "state_after"):  # the student's own numbers, and raw state entries
            continue
        found = _not_finite(item, f"{path}[{key!r}]" if path else str(key))
        if found:
            return found
    return ""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def number(v: float, digits: int = 5) -> str:
    """A number with ``digits`` significant digits: 0.048312, -2.1347e-05, 12.5 (never "-0.0000")."""
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    return f"{v + 0.0:.{digits}g}"


def _fmt(x: Any) -> str:
    if torch.is_tensor(x):
        x = x.detach()
        if x.numel() <= 12:
            values = "[" + ", ".join(number(float(v)) for v in x.flatten().tolist()) + "]"
            return values + (f" (shape {tuple(x.shape)})" if x.dim() > 1 else "")
        return f"tensor of shape {tuple(x.shape)}"
    return repr(x)


@contextlib.contextmanager
def stderr_to_stdout():
    """Send everything written to stderr (Python or C level) to stdout, and mute warnings.

    C libraries (ale-py, torch's C++ core) write to file descriptor 2 directly, so redirecting
    ``sys.stderr`` alone is not enough.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fd = None
    try:
        saved_fd = os.dup(2)
        os.dup2(1, 2)
    except OSError:  # no real file descriptors (some embedded interpreters)
        saved_fd = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(sys.stdout):
                yield
    finally:
        sys.stdout.flush()
        if saved_fd is not None:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def call(fn: Callable, *args, name: str | None = None, check_inplace: bool = True, **kwargs):
    """Call the student's function with copies of the inputs; explain the usual failures.

    Returns the function's result. Raises ``CheckFailed`` when it is not written yet, raises,
    or changes one of its tensor inputs in place.
    """
    name = name or str(getattr(fn, "__name__", "your function"))
    copies = [a.clone() if torch.is_tensor(a) else a for a in args]
    try:
        with stderr_to_stdout():
            out = fn(*copies, **kwargs)
    except NotImplementedError as exc:
        raise CheckFailed(not_written(name, exc)) from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's bug, reported as a failed check
        raise CheckFailed(f"`{name}` raised {describe_error(exc)}") from None
    for i, (a, c) in enumerate(zip(args, copies)):
        if check_inplace and torch.is_tensor(a) and (c.shape != a.shape or not torch.equal(c.detach(), a.detach())):
            raise CheckFailed(
                f"`{name}` changed its input #{i + 1} in place. Work on new tensors "
                "(e.g. `torch.zeros_like(x)`) instead of writing into the inputs."
            )
    return out


def expect_tensor(x: Any, shape: tuple | None = None, name: str = "the result") -> None:
    expect(torch.is_tensor(x), f"{name} should be a torch.Tensor, got {type(x).__name__}.")
    expect(x.is_floating_point(), f"{name} should hold floats, got dtype {x.dtype}.")
    if shape is not None:
        expect(tuple(x.shape) == tuple(shape), f"{name} should have shape {tuple(shape)}, got {tuple(x.shape)}.")
    expect(bool(torch.isfinite(x).all()), f"{name} contains NaN or inf: {_fmt(x)}.")


def expect_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    case: str,
    hint: str = "",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    inputs: dict[str, torch.Tensor] | None = None,
    mistakes: dict[str, torch.Tensor] | None = None,
) -> None:
    """``actual`` matches ``expected`` within tolerances (any float dtype); the message names the
    case, the first wrong element, the ``inputs`` around it, and a hint. ``mistakes``: what typical
    mistakes give on this case ({what the mistake is: their result}); a result that matches one is
    told so."""
    expect_tensor(actual, tuple(expected.shape))
    got, want = actual.detach().double(), expected.detach().double()
    wrong = ~torch.isclose(got, want, atol=atol, rtol=rtol)
    if wrong.any():
        named = [
            what
            for what, result in (mistakes or {}).items()
            if bool(torch.isclose(got, result.detach().double(), atol=atol, rtol=rtol).all())
        ]
        message = f"Wrong values for {case}" + (f": {named[0]}." if named else ".")
        index = tuple(int(i) for i in wrong.nonzero()[0])
        difference = got[index].item() - want[index].item()
        if want.numel() <= 12:
            message += f"\n  expected: {_fmt(want)}\n  got:      {_fmt(got)}"
            if want.numel() > 1 or inputs:
                message += f"\n  first wrong element: index {list(index)}, off by {number(difference, 3)}"
            else:
                message += f"  (off by {number(difference, 3)})"
        if want.numel() > 12:
            message += (
                f"\n  first wrong element: index {list(index)} ({int(wrong.sum())} of {want.numel()} wrong): "
                f"expected {number(want[index].item())}, got {number(got[index].item())} "
                f"(off by {number(difference, 3)})"
            )
        message += _around(index, tuple(want.shape), inputs or {})
        raise CheckFailed(message + (f"\n  Hint: {hint}" if hint else ""))


def _around(index: tuple, shape: tuple, inputs: dict[str, torch.Tensor]) -> str:
    """The inputs near a wrong element: a window over time (dim 0) in the same env, for [T, N] data."""
    lines = []
    for name, x in inputs.items():
        if not torch.is_tensor(x):
            continue
        x = x.detach()
        if tuple(x.shape) == shape and shape:
            t = index[0]
            lo, hi = max(0, t - 2), min(shape[0], t + 3)
            window = x[(slice(lo, hi), *index[1:])]
            where = ", ".join([f"{lo}..{hi - 1}", *map(str, index[1:])])
            lines.append(f"{name}[{where}] = {_fmt(window)}")
        elif tuple(x.shape) == shape[1:] and len(shape) > 1:
            lines.append(f"{name}[{', '.join(map(str, index[1:]))}] = {number(x[index[1:]].item())}")
    return "".join(f"\n  {line}" for line in lines)


def passed(message: str = "All sanity checks passed.") -> None:
    print("\u2714 " + message)
