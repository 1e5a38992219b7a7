"""How a notebook's grading went: the status column of grades.csv (the points do not depend on it)."""

GRADED = "graded"
TIMEOUT = "timeout"  # a cell or the whole notebook ran out of time
ERROR = "error"  # the kernel died; or nbgrader, the scorer or the grader failed on this notebook
OUTPUT_TOO_LARGE = "output-too-large"  # a cell printed past the limit: cut, and the cell stopped
INPUT_TOO_LARGE = "input-too-large"  # a cell's text or attachments past the grader's limits: left out
INVALID = "invalid-notebook"  # not JSON, not a notebook, too large, not a plain file: zero

ALL = (GRADED, TIMEOUT, ERROR, OUTPUT_TOO_LARGE, INPUT_TOO_LARGE, INVALID)
