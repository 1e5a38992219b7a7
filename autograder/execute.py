"""nbgrader's Execute step, made to survive what a submission can do to the whole notebook.

nbgrader's autograde runs a notebook's cells one after the other in one kernel, with a timeout
per cell. Here that run makes the feedback (the student's outputs, the visible checks, the
plots); no point comes from it (``autograder.score`` scores every graded cell outside the
kernel), and the hidden test cells are not run in the kernel at all: nothing of the hidden checks
or the references is ever loaded where the student's code runs.

Three things would still cost a student the whole notebook's feedback, since nbgrader then
drops it; here each costs only the cells it touches:

* **the kernel dies** (``os._exit``, ``exit()``, killed by a limit) or **a cell cannot be stopped**
  (it ran past its timeout and ignored the interrupt): the cell gets an error output that says so
  (``KERNEL_DIED``, ``CELL_TIMEOUT``), a fresh kernel is started and the cells after it run in the
  new kernel; an exercise whose cell defines everything it needs still earns its points.
* **the notebook runs past its time budget** (``notebook_timeout``: many slow cells, each under the
  cell timeout): each cell's timeout is cut to the time left, and the cells not started when the
  budget is spent are not run but get an error output (``NOT_RUN``) that says so.

The grader (``autograder.grade``) puts this class in place of nbgrader's ``Execute`` (in
``nbgrader_config.py``) and reads these error names back from the autograded notebook to set the
status (``error``, ``timeout``) and the message. It keeps a hard limit on the whole nbgrader run too.
"""
from __future__ import annotations

import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
HIDDEN_NOTE = "The hidden checks run outside this notebook when it is graded.\n"
KERNEL_DIED = "KernelDiedError"
NOT_RUN = "NotebookTimeoutError"
CELL_TIMEOUT = Execute.error_on_timeout.default()["ename"]  # what nbgrader writes for a cell timeout


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class GradingExecute(Execute):
    notebook_timeout = Integer(
        None, allow_none=True,
        help="Seconds for the whole notebook, kernel start included; cells not started by then are not run.",
    ).tag(config=True)

    _deadline: float | None = None
    _asked_exit = False

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = None if self.notebook_timeout is None else time.monotonic() + self.notebook_timeout
        self.timeout_func = self._cell_timeout
        return super().preprocess(nb, resources, km)

    def _time_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _cell_timeout(self, cell) -> int | None:
        """The cell timeout, cut to what is left of the notebook's budget (nbclient's timeout_func)."""
        timeout, left = self.timeout, self._time_left()
        if left is None:
            return timeout
        left = max(1, int(left) + 1)
        return left if timeout is None or timeout <= 0 else min(timeout, left)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        # exit() in IPython does not kill the kernel at once: the reply asks the client to let it go.
        payload = kwargs["execute_reply"].get("content", {}).get("payload", [])
        self._asked_exit = any(p.get("source") == "ask_exit" for p in payload)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if HIDDEN_TESTS in cell.source:  # scored outside the kernel (autograder.score): never run here
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=HIDDEN_NOTE)]
            cell.execution_count = None
            return cell, self.resources
        left = self._time_left()
        if left is not None and left <= 0:
            cell.outputs = [error_output(NOT_RUN, f"not run: the notebook used up its {self.notebook_timeout} s")]
            cell.execution_count = None
            return cell, self.resources
        self._asked_exit = False
        try:
            super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._restart_after(cell, KERNEL_DIED, "the kernel died while running this cell (os._exit() was called, "
                                                   "or the process was killed)")
        except CellTimeoutError:
            self._restart_after(cell, CELL_TIMEOUT, "this cell ran out of time and did not stop when interrupted")
        else:
            if self._asked_exit:
                self._restart_after(cell, KERNEL_DIED, "exit() in this cell stopped the kernel")
        return cell, self.resources

    def _restart_after(self, cell, ename: str, why: str) -> None:
        cell.outputs.append(error_output(ename, why + "; the cells below ran in a new kernel"))
        run_sync(self._async_restart_kernel)()

    async def _async_restart_kernel(self) -> None:
        assert self.km is not None
        if self.kc is not None:
            await ensure_async(self.kc.stop_channels())
        await ensure_async(self.km.restart_kernel(now=True))
        await self.async_start_new_kernel_client()
