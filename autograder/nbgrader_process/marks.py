"""The marks nbgrader's run leaves in a notebook (error outputs by name), written by
``grading_execute`` and read back by the pipeline (``autograder.pipeline.execute.run_problems``),
and the limits on the output a run keeps."""

from __future__ import annotations

from nbgrader.preprocessors import Execute

KERNEL_DIED = "KernelDiedError"  # the kernel died in this cell; the cells after it ran in a new kernel
NOT_RUN = "NotebookTimeoutError"  # not run: the notebook's time budget was spent
OUTPUT_TOO_LARGE = "OutputTooLargeError"  # this cell's output was cut
CELL_TIMEOUT = Execute.error_on_timeout.default()["ename"]  # what nbgrader writes for a cell timeout
RUN_PROBLEMS = (KERNEL_DIED, CELL_TIMEOUT, NOT_RUN, OUTPUT_TOO_LARGE)

HIDDEN_NOTE = "The hidden checks run outside this notebook when it is graded.\n"
# How much output a run keeps (the feedback's size, the grader's memory): its limits, set here only.
MAX_MESSAGE_BYTES = 16 * 1024**2  # a single output message larger than this is refused by the socket
MAX_CELL_OUTPUT = 8 * 1024**2  # bytes of output a cell keeps; past it the cell is stopped
MAX_NOTEBOOK_OUTPUT = 32 * 1024**2  # bytes of output a whole notebook keeps
