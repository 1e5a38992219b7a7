"""How a notebook's grading went: the status column of grades.csv (the points do not depend on it)."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """A kind of outcome; its words for people go into the grade's message, never read back."""

    GRADED = "graded"
    TIMEOUT = "timeout"  # a cell or the whole notebook ran out of time
    ERROR = "error"  # the kernel died; or nbgrader, the scorer or the grader failed on this notebook
    OUTPUT_TOO_LARGE = "output-too-large"  # a cell printed past the limit: cut, and the cell stopped
    INPUT_TOO_LARGE = "input-too-large"  # a cell's text or attachments past the grader's limits: left out
    INVALID = "invalid-notebook"  # not JSON, not a notebook, too large, not a plain file: zero

    # Written as its value (grades.csv, run.json, messages), as enum.StrEnum does from Python 3.11.
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


GRADED, TIMEOUT, ERROR = Status.GRADED, Status.TIMEOUT, Status.ERROR
OUTPUT_TOO_LARGE, INPUT_TOO_LARGE, INVALID = Status.OUTPUT_TOO_LARGE, Status.INPUT_TOO_LARGE, Status.INVALID
ALL = tuple(Status)
