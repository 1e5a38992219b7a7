"""Helpers for the sanity checks that follow every exercise.

They turn a wrong answer into a sentence a student can act on: which input, what was expected,
what came back. The same helpers serve the hidden checks at grading time, which is why they also
keep library warnings off stderr (nbgrader gives zero to a test cell that writes to stderr).
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, Callable

import torch


class CheckFailed(AssertionError):
    """A sanity check found a mistake; the message says what to fix."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _fmt(x: Any) -> str:
    if torch.is_tensor(x):
        x = x.detach()
        if x.numel() <= 12:
            return str([round(v, 4) for v in x.flatten().tolist()]) + (f" (shape {tuple(x.shape)})" if x.dim() > 1 else "")
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
    name = name or getattr(fn, "__name__", "your function")
    copies = [a.clone() if torch.is_tensor(a) else a for a in args]
    try:
        with stderr_to_stdout():
            out = fn(*copies, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"`{name}` is not written yet: replace `raise NotImplementedError()` with your code.") from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's bug, reported as a failed check
        raise CheckFailed(f"`{name}` raised {type(exc).__name__}: {exc}") from None
    for i, (a, c) in enumerate(zip(args, copies)):
        if check_inplace and torch.is_tensor(a) and (c.shape != a.shape or not torch.equal(c.detach(), a.detach())):
            raise CheckFailed(f"`{name}` changed its input #{i + 1} in place. Work on new tensors "
                              "(e.g. `torch.zeros_like(x)`) instead of writing into the inputs.")
    return out


def expect_tensor(x: Any, shape: tuple | None = None, name: str = "the result") -> None:
    expect(torch.is_tensor(x), f"{name} should be a torch.Tensor, got {type(x).__name__}.")
    expect(x.is_floating_point(), f"{name} should hold floats, got dtype {x.dtype}.")
    if shape is not None:
        expect(tuple(x.shape) == tuple(shape), f"{name} should have shape {tuple(shape)}, got {tuple(x.shape)}.")
    expect(bool(torch.isfinite(x).all()), f"{name} contains NaN or inf: {_fmt(x)}.")


def expect_close(actual: torch.Tensor, expected: torch.Tensor, case: str, hint: str = "",
                 atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """``actual`` matches ``expected`` within tolerances; the message names the case and a hint."""
    expect_tensor(actual, tuple(expected.shape))
    if not torch.allclose(actual.detach().double(), expected.double(), atol=atol, rtol=rtol):
        message = f"Wrong values for {case}.\n  expected: {_fmt(expected)}\n  got:      {_fmt(actual)}"
        raise CheckFailed(message + (f"\n  Hint: {hint}" if hint else ""))


def passed(message: str = "All sanity checks passed.") -> None:
    print("\u2714 " + message)

