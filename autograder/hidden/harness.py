"""Run a list of weighted checks on a student's function and turn them into partial credit.

The checks of a notebook declare each case on its own (``Checks``: a name, a weight, what it
compares). A hidden test cell ends with ``grade_...(globals().get("fn"))`` (no NameError: an
error in a hidden cell would print its source in the feedback). The scorer (``autograder.pipeline.scorer``) runs it with
``fn`` standing for the student's function in another process, and records the number it returns:
``points * (weight passed / weight total)``, and at most a share of the points when a *gate*
check failed (the gradient of a loss: a loss whose gradient is wrong trains the wrong thing,
however close its value; a state that is not shared: an A3C optimizer that is not one). Every
check prints one line a student can act on; nothing goes to stderr and no exception escapes
(which would hide the partial credit). Notes (``note``) say what is not graded here: a function
pasted from an earlier notebook that differs from the course's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_lib.checks import (
    CheckFailed,
    StudentCodeError,
    describe_error,
    expect,
    expect_close,
    not_written,
    raised_in,
    stderr_to_stdout,
)

AUTOGRADER = str(Path(__file__).resolve().parents[1])  # the checks' own frames are not the student's line
GATE_CAP = 0.5  # the share of the points a submission can keep when a gate check fails (gate=True)


REPORTS: list[Report] = []  # every report printed in this process, in order (the scorer reads the last one)


@dataclass
class Report:
    title: str
    points: float
    function: str = "your function"
    results: list[tuple[str, float, str | None]] = field(default_factory=list)
    gates_failed: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, weight: float, run: Callable[[], None], gate: bool | float = False) -> bool:
        """Run one check; a failure message (or the student's exception) is recorded, not raised.

        ``gate``: when this check fails, the whole report earns at most ``GATE_CAP`` of the points
        (``gate=True``), or the share ``gate`` says.
        """
        passed = self._run(name, weight, run)
        if gate is not False and not passed:
            self.gates_failed.append((name, GATE_CAP if gate is True else float(gate)))
        return passed

    def note(self, text: str) -> None:
        """A line printed with the report, outside its points."""
        self.notes.append(text)

    def _run(self, name: str, weight: float, run: Callable[[], None]) -> bool:
        try:
            with stderr_to_stdout():
                run()
        except CheckFailed as failure:
            self.results.append((name, weight, str(failure)))
            return False
        except NotImplementedError as exc:
            self.results.append((name, weight, not_written(self.function, exc, (AUTOGRADER,))))
            return False
        except Exception as exc:
            self.results.append((name, weight, _raised(exc)))
            return False
        self.results.append((name, weight, None))
        return True

    def missing(self, name: str) -> float:
        """The function does not exist (its cell raised, was not run, or renamed it): zero, said plainly."""
        self.results.append(
            (
                f"`{name}` is defined",
                1.0,
                f"`{name}` is not defined: its cell raised an error or was changed; run it and read its error.",
            )
        )
        return self.score()

    def first_failure(self) -> tuple[str, str]:
        """The name and the message of the first check that failed (both '' when none did)."""
        return next(((name, message) for name, _, message in self.results if message is not None), ("", ""))

    def score(self) -> float:
        """Print the report and return the points earned (what nbgrader records)."""
        total = sum(w for _, w, _ in self.results) or 1.0
        earned = sum(w for _, w, msg in self.results if msg is None)
        points = round(self.points * earned / total, 2)
        if self.gates_failed:
            cap = min(share for _, share in self.gates_failed)
            points = min(points, round(self.points * cap, 2))
        REPORTS.append(self)
        print(f"{self.title}: {points:g} / {self.points:g} points")
        if self.gates_failed:
            print(f"  (at most {cap:.0%} of the points while this fails: {', '.join(n for n, _ in self.gates_failed)})")
        for name, _, msg in self.results:
            print(
                f"  {'PASS' if msg is None else 'FAIL'}  {name}"
                + ("" if msg is None else "\n        " + msg.replace("\n", "\n        "))
            )
        for text in self.notes:
            print("  NOTE  " + text.replace("\n", "\n        "))
        return points


def _raised(exc: Exception) -> str:
    """The student's code raised (their line, not the hidden code's), or the check itself did (said
    as the check's fault: a check must fail a wrong answer with a message, never raise on it)."""
    if isinstance(exc, StudentCodeError) or raised_in(exc, (AUTOGRADER,)):
        return f"your code raised {describe_error(exc, (AUTOGRADER,))}"
    return (
        f"this check could not run ({type(exc).__name__}: {str(exc)[:300]}): a fault of the grader's check, "
        "not a verdict on your code. Tell your instructor."
    )


class Context:
    """What the cases of one grading share: ``fn`` (the student's function, or its proxy), the other
    names the hidden cell passed (``more``), and whatever a subclass computes once, lazily."""

    def __init__(self, fn, *more):
        self.fn, self.more = fn, more


class Checks:
    """The hidden checks of one exercise function, each case declared on its own::

        gae_checks = Checks("gae", GaeInputs)           # GaeInputs(fn): what the cases share
        @gae_checks.case("a termination stops the recursion", weight=0.5)
        def termination(c):                             # c: a GaeInputs; raise CheckFailed to fail
            ...
        grade_gae = gae_checks                          # what the hidden test cell calls

    Calling it grades a function: the cases run in the order they were declared, each into one
    line of the report; ``gate``: a failure caps the points (``Report.check``); ``note``: a line
    outside the points (a pasted function that differs from the course's).
    """

    def __init__(self, name: str, context: type = Context, points: float = 4.0):
        self.name, self.context, self.points = name, context, points
        self.cases: list[tuple[str, float, bool | float, Callable]] = []
        self.notes: list[Callable] = []

    def case(self, title: str, weight: float, gate: bool | float = False):
        def register(run: Callable) -> Callable:
            self.cases.append((title, weight, gate, run))
            return run

        return register

    def note(self, make: Callable) -> Callable:
        self.notes.append(make)
        return make

    def __call__(self, fn, *more, points: float | None = None) -> float:
        report = Report(f"{self.name} (hidden checks)", self.points if points is None else points, self.name)
        if fn is None:
            return report.missing(self.name)
        context = self.context(fn, *more)
        for title, weight, gate, run in self.cases:
            report.check(title, weight, functools.partial(run, context), gate=gate)
        for make in self.notes:
            try:
                with stderr_to_stdout():
                    text = make(context)
            except Exception:  # a note never costs a point, and never breaks the report
                text = None
            if text:
                report.note(text)
        return report.score()


def gradients(loss: torch.Tensor, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """d loss / d parameter for every named parameter (zeros where the loss does not reach it)."""
    expect(torch.is_tensor(loss) and loss.dim() == 0, "the loss should be a scalar tensor.")
    expect(
        loss.requires_grad,
        "the loss has no gradient at all: build it from the network's outputs with torch "
        "operations (no .detach(), .item() or NumPy on the way).",
    )
    names, params = zip(*model.named_parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g.detach() for n, p, g in zip(names, params, grads)}


def expect_same_gradients(
    got: dict[str, torch.Tensor],
    want: dict[str, torch.Tensor],
    case: str,
    silent: dict[str, str] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-4,
) -> None:
    """The student's gradients equal the reference's for every parameter.

    ``silent``: {parameter-name prefix: message} for the typical mistake where a part of the network
    receives no gradient at all (a critic trained by nothing, a detached log-probability).
    """
    for prefix, message in (silent or {}).items():
        names = [n for n in want if n.startswith(prefix)]
        if any(float(want[n].abs().max()) > 0 for n in names) and all(float(got[n].abs().max()) == 0 for n in names):
            raise CheckFailed(message)
    for name, expected in want.items():
        expect_close(
            got[name],
            expected,
            f"the gradient of {case} with respect to `{name}`",
            atol=atol,
            rtol=rtol,
            hint="the loss's value can be right while its gradient is not: check what is detached, "
            "and that every term is built from the network's outputs.",
        )
