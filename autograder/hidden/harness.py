"""Run a list of weighted checks on a student's function and turn them into partial credit.

nbgrader gives a test cell the points of its last expression when that is a number, so each
hidden test cell ends with ``grade_...(globals().get("fn"))`` (no NameError: an error in a hidden
cell would print its source in the feedback) and gets ``points * (weight passed / weight total)``.
Every check prints one line a student can act on; nothing goes to stderr (which would zero the
cell) and no exception escapes (which would hide the partial credit).
"""
from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass, field
from typing import Callable

from course_lib.checks import CheckFailed, stderr_to_stdout


@dataclass
class Report:
    title: str
    points: float
    results: list[tuple[str, float, str | None]] = field(default_factory=list)

    def check(self, name: str, weight: float, run: Callable[[], None]) -> bool:
        """Run one check; a failure message (or the student's exception) is recorded, not raised."""
        try:
            with stderr_to_stdout():
                run()
        except CheckFailed as failure:
            self.results.append((name, weight, str(failure)))
            return False
        except NotImplementedError:
            self.results.append((name, weight, "not written yet (NotImplementedError)."))
            return False
        except Exception as exc:  # the student's code raised: report where, not the hidden code
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if "autograder" not in f.filename]
            where = f" (line {frames[-1].lineno} of your cell)" if frames else ""
            self.results.append((name, weight, f"your code raised {type(exc).__name__}: {exc}{where}"))
            return False
        self.results.append((name, weight, None))
        return True

    def missing(self, name: str) -> float:
        """The function does not exist (its cell raised, was not run, or renamed it): zero, said plainly."""
        self.results.append((f"`{name}` is defined", 1.0, f"`{name}` is not defined: its cell raised an error or "
                                                          "was changed; run it and read its error."))
        return self.score()

    def score(self) -> float:
        """Print the report and return the points earned (what nbgrader records)."""
        total = sum(w for _, w, _ in self.results) or 1.0
        earned = sum(w for _, w, msg in self.results if msg is None)
        points = round(self.points * earned / total, 2)
        print(f"{self.title}: {points:g} / {self.points:g} points")
        for name, _, msg in self.results:
            print(f"  {'PASS' if msg is None else 'FAIL'}  {name}" + ("" if msg is None else "\n        " + msg.replace("\n", "\n        ")))
        return points


def hidden_check(name: str, points: float = 4.0):
    """Turn ``checks(fn, report)`` into ``grade(fn) -> points``: the report, the missing-function case, the score."""
    def decorate(checks: Callable[[Callable, Report], None]):
        @functools.wraps(checks)
        def grade(fn, points: float = points) -> float:
            report = Report(f"{name} (hidden checks)", points)
            if fn is None:
                return report.missing(name)
            checks(fn, report)
            return report.score()
        return grade
    return decorate
