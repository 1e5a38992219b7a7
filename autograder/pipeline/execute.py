"""Step 2 of the pipeline, execute: nbgrader's autograde runs a student's notebooks in the sandboxed
kernel, for the feedback, with its Execute step made to survive what a submission can do.

nbgrader's autograde runs a notebook's cells one after the other in one kernel, with a timeout
per cell. Here that run makes the feedback (the student's outputs, the visible checks, the
plots); no point comes from it (``autograder.pipeline.score`` scores every graded cell outside the
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

And one thing would cost the grader its memory: **output without a bound** (a cell that prints
hundreds of megabytes). Every output message is counted as it arrives: past ``max_cell_output``
bytes a cell's further outputs are dropped and the cell is interrupted, past
``max_notebook_output`` every later cell's outputs are dropped (the cells still run); each cut is
marked in the cell (``OUTPUT_TOO_LARGE``). A single message larger than ``MAX_MESSAGE_BYTES``
never reaches this process: the kernel's sockets refuse it (ZeroMQ's ``MAXMSGSIZE``), and the
cell says that an output was dropped.

The hidden test cells are recognized by their nbgrader metadata (a graded test cell whose
instructor's source holds the marker), never by text alone: an answer cell whose comments or
strings hold nbgrader's markers runs like any other.

``nbgrader_config.py`` puts ``GradingExecute`` in place of nbgrader's ``Execute``; ``run_notebooks``
(one nbgrader autograde per student) reads these error names back from the autograded notebooks
to set each one's status (``statuses``) and message, and keeps a hard limit on the whole run.
"""

from __future__ import annotations

import asyncio
import json
import time

import zmq
from jupyter_client.connect import ConnectionFileMixin
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.cells import is_hidden_test_cell

HIDDEN_NOTE = "The hidden checks run outside this notebook when it is graded.\n"
KERNEL_DIED = "KernelDiedError"
NOT_RUN = "NotebookTimeoutError"
OUTPUT_TOO_LARGE = "OutputTooLargeError"
CELL_TIMEOUT = Execute.error_on_timeout.default()["ename"]  # what nbgrader writes for a cell timeout
MAX_MESSAGE_BYTES = 16 * 1024**2


def _bounded_socket(create):
    """jupyter_client's socket factory, with ZeroMQ's limit on the size of a message received:
    a larger message is dropped before this process reads it (and the connection made again)."""

    def create_bounded(self, channel, identity=None):
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # the default of every socket made next
        return create(self, channel, identity)

    return create_bounded


if not getattr(ConnectionFileMixin._create_connected_socket, "bounded", False):
    # MAXMSGSIZE must be set before the socket connects: this process (nbgrader's, on the host) makes
    # every kernel socket through this one method.
    ConnectionFileMixin._create_connected_socket = _bounded_socket(ConnectionFileMixin._create_connected_socket)
    ConnectionFileMixin._create_connected_socket.bounded = True


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def choked_traceback_removed(cell) -> bool:
    """Remove ipykernel's traceback of an output it could not encode (MemoryError in its
    iostream) from the cell's stderr, whether it came in one message or several; True if found."""
    stderr = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    text = "".join(o.get("text", "") for o in stderr)
    where = text.find("ipykernel/iostream.py")
    end = text.find("MemoryError", where)
    if where < 0 or end < 0:
        return False
    start = text.rfind("Traceback (most recent call last):", 0, where)
    start = text.rfind("\n", 0, start if start >= 0 else where) + 1
    logged = text.rfind("\n", 0, max(start - 1, 0)) + 1  # the logger's line before it, if it is one
    if text.startswith("ERROR:tornado.application:", logged):
        start = logged
    newline = text.find("\n", end)
    kept = text[:start] + (text[newline + 1 :] if newline >= 0 else "")
    first = cell.outputs.index(stderr[0])
    outputs = [o for o in cell.outputs if o not in stderr]
    if kept:
        outputs.insert(first, NotebookNode(output_type="stream", name="stderr", text=kept))
    cell.outputs = outputs
    return True


class GradingExecute(Execute):
    notebook_timeout = Integer(
        None,
        allow_none=True,
        help="Seconds for the whole notebook, kernel start included; cells not started by then are not run.",
    ).tag(config=True)
    max_cell_output = Integer(8 * 1024**2, help="Bytes of output a cell may keep; past it the cell is stopped.").tag(
        config=True
    )
    max_notebook_output = Integer(32 * 1024**2, help="Bytes of output the whole notebook may keep.").tag(config=True)

    _deadline: float | None = None
    _asked_exit = False

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = None if self.notebook_timeout is None else time.monotonic() + self.notebook_timeout
        self.timeout_func = self._cell_timeout
        self._notebook_bytes = 0
        self._cell_bytes, self._cut, self._interrupted = 0, "", False
        return super().preprocess(nb, resources, km)

    # ------------------------------------------------------------------ output, bounded
    def _count(self, msg) -> bool:
        """Count one output message; False when it must be dropped (a limit was reached)."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self._cut:
            return False
        if self._cell_bytes + size > self.max_cell_output:
            self._cut = (
                f"this cell's output passed {self.max_cell_output / 1024**2:.0f} MB: the rest was not kept, "
                "and the cell was stopped"
            )
            self._interrupt()
            return False
        if self._notebook_bytes + size > self.max_notebook_output:
            self._cut = (
                f"the notebook's outputs passed {self.max_notebook_output / 1024**2:.0f} MB: the outputs "
                "of this cell and the cells after it were not kept"
            )
            return False
        self._cell_bytes += size
        self._notebook_bytes += size
        return True

    def _interrupt(self) -> None:
        if self._interrupted or self.km is None:
            return
        self._interrupted = True
        try:
            asyncio.get_running_loop().create_task(ensure_async(self.km.interrupt_kernel()))
        except RuntimeError:  # no loop running: nothing to interrupt from here
            pass

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        self._watch()
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _dropped_messages(self) -> int:
        monitor, dropped = getattr(self, "_monitor", None), 0
        while monitor is not None and dropped < 1000:
            try:
                monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:  # zmq.Again: nothing (more) to read
                break
            dropped += 1
        return dropped

    async def _reconnected(self, seconds: float = 30.0) -> None:
        """Connect to the kernel's channels again: ZeroMQ closed the output channel on the drop and
        does not reconnect it. The kernel and its state are untouched."""
        self._dropped_messages()
        old = self.kc.iopub_channel
        old.stop()
        old.close()
        self.kc._iopub_channel = None  # jupyter_client makes a new channel (and socket) when next asked
        self.kc.iopub_channel.start()
        try:
            await ensure_async(self.kc.wait_for_ready(timeout=seconds))
        except RuntimeError:
            pass
        self._watch()

    def _watch(self) -> None:
        try:  # ZeroMQ tells when it dropped a message too large (it closes that connection)
            monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self._monitor = zmq.Socket.shadow(monitor.underlying)  # read without the event loop
            self._monitor_owner = monitor
        except (zmq.ZMQError, AttributeError):
            self._monitor = None

    @staticmethod
    def _too_large_message() -> str:
        return (
            f"this cell sent an output larger than {MAX_MESSAGE_BYTES / 1024**2:.0f} MB in one piece: it was not kept"
        )

    def output(self, outs, msg, display_id, cell_index):
        if not self._count(msg):
            return None
        return super().output(outs, msg, display_id, cell_index)

    def handle_comm_msg(self, outs, msg, cell_index):
        if self._count(msg):  # widget state (progress bars) is output too
            super().handle_comm_msg(outs, msg, cell_index)

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
        if is_hidden_test_cell(cell):  # scored outside the kernel (autograder.pipeline.score): never run here
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=HIDDEN_NOTE)]
            cell.execution_count = None
            return cell, self.resources
        left = self._time_left()
        if left is not None and left <= 0:
            cell.outputs = [error_output(NOT_RUN, f"not run: the notebook used up its {self.notebook_timeout} s")]
            cell.execution_count = None
            return cell, self.resources
        self._asked_exit = False
        self._cell_bytes, self._interrupted = 0, False
        if self._cut.startswith("this cell"):
            self._cut = ""  # a cell's own limit: the next cell starts afresh
        try:
            super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._restart_after(
                cell,
                KERNEL_DIED,
                "the kernel died while running this cell (os._exit() was called, "
                "it ran out of memory, or the process was killed)",
            )
        except CellTimeoutError:
            if self._dropped_messages():  # the end of the cell was lost with the message too large
                self._cut = self._cut or self._too_large_message()
            else:
                self._restart_after(cell, CELL_TIMEOUT, "this cell ran out of time and did not stop when interrupted")
        else:
            if self._asked_exit:
                self._restart_after(cell, KERNEL_DIED, "exit() in this cell stopped the kernel")
        if self._dropped_messages():
            self._cut = self._cut or self._too_large_message()
        if choked_traceback_removed(cell):  # ipykernel's traceback of a print of a gigabyte
            self._cut = self._cut or (
                "this cell's output was too large for the kernel to send (it ran out of memory "
                "encoding it): it was not kept"
            )
        if self._cut == self._too_large_message():
            run_sync(self._reconnected)()  # the outputs of the next cell must not be lost in turn
        if self._cut:
            cell.outputs.append(error_output(OUTPUT_TOO_LARGE, self._cut))
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


# --------------------------------------------------------------------------- the step
HARD_TIMEOUT_GRACE = 60  # seconds nbgrader gets past the notebooks' budget before it is killed
RUN_PROBLEMS = (KERNEL_DIED, CELL_TIMEOUT, NOT_RUN, OUTPUT_TOO_LARGE)
KNOWN_ERRORS = {
    "DeadKernelError": "the kernel died (out of memory, or the process was killed)",
    "Kernel died": "the kernel died (out of memory, or the process was killed)",
    "MemoryError": "out of memory",
    "CellTimeoutError": "a cell ran out of time",
}


def run_notebooks(job, subs, releases: dict) -> dict[str, tuple[str, str]]:
    """Repair a student's submissions and run them with one nbgrader autograde (one process start
    for all of them), each in the sandboxed kernel, for the feedback. Returns each notebook's
    (status, message) of the run; no point is taken from it."""
    import shutil
    import subprocess

    import nbformat

    from autograder.nbgrader_cli import nbgrader
    from autograder.pipeline import statuses
    from autograder.pipeline.collect import repair
    from autograder.pipeline.files import read_bytes, read_notebook

    runs: dict[str, tuple[str, list[str], str]] = {}
    for sub in subs:
        notes = list(sub.notes)
        if sub.status == statuses.GRADED:
            nb = nbformat.reads(read_bytes(sub.path).decode("utf-8"), as_version=4)  # the grader's own copy
            notes += repair(nb, releases[sub.notebook])
            job.submitted(sub.notebook).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, job.submitted(sub.notebook))
        runs[sub.notebook] = (sub.status, notes, "")
    graded = [sub for sub in subs if sub.status == statuses.GRADED]
    options = job.options
    if graded:
        pattern = graded[0].notebook if len(graded) == 1 else "*"
        budget = options.notebook_timeout * len(graded) + HARD_TIMEOUT_GRACE
        try:  # GradingExecute keeps to each notebook's budget; this hard limit is for a kernel that won't stop
            proc = nbgrader(
                job.course,
                "autograde",
                pattern,
                f"--student={job.student}",
                "--force",
                env=job.env(),
                timeout=budget,
                check=False,
            )
            if proc.returncode != 0:
                (job.course / "nbgrader.log").write_text(proc.stdout[-200_000:])  # for the instructor
                for sub in graded:
                    if not job.autograded(sub.notebook).exists():
                        runs[sub.notebook] = (statuses.ERROR, runs[sub.notebook][1], nbgrader_error(proc.stdout))
        except subprocess.TimeoutExpired:
            for sub in graded:
                if not job.autograded(sub.notebook).exists():
                    runs[sub.notebook] = (
                        statuses.TIMEOUT,
                        runs[sub.notebook][1],
                        f"the notebook did not finish in {options.notebook_timeout} s and could not be stopped",
                    )
    results = {}
    for sub in subs:
        status, notes, message = runs[sub.notebook]
        autograded = job.autograded(sub.notebook)
        if status == statuses.TIMEOUT and autograded.parent.exists():  # killed mid-run: no run to show
            shutil.rmtree(autograded.parent)
        elif status == statuses.GRADED and autograded.exists():
            status, message = run_problems(read_notebook(autograded), options)
        results[sub.notebook] = (status, "; ".join(filter(None, [message, *notes])))
    return results


def nbgrader_error(output: str) -> str:
    """One sentence for the student from nbgrader's log of a failed run."""
    for key, sentence in KNOWN_ERRORS.items():
        if key in output:
            return sentence
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "nbgrader could not grade this notebook: " + (lines[-1][:300] if lines else "no output")


def _cell_name(cell, index: int) -> str:
    """A graded cell by its grade id, any other by its number and first line (what a student can find)."""
    from autograder.cells import grade_id_of

    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return grade_id_of(cell) or f"cell {index + 1} ({first[:40]!r})"


def run_problems(nb, options) -> tuple[str, str]:
    """(status, message) of an autograded notebook, from the errors that mark how its run went wrong."""
    from autograder.pipeline import statuses

    found: dict[str, list[str]] = {}
    for index, cell in enumerate(nb.cells if nb is not None else []):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error" and output.get("ename") in RUN_PROBLEMS:
                found.setdefault(output["ename"], []).append(_cell_name(cell, index))
    messages = []
    if found.get(KERNEL_DIED):
        messages.append(
            f"the kernel died in {', '.join(found[KERNEL_DIED])} (exit() or os._exit(), or the "
            "process was killed); the cells after it ran in a new kernel"
        )
    if found.get(CELL_TIMEOUT):
        messages.append(
            f"cell(s) ran out of time ({options.cell_timeout} s a cell at most): "
            f"{', '.join(dict.fromkeys(found[CELL_TIMEOUT]))}"
        )
    if found.get(NOT_RUN):
        messages.append(
            f"the notebook used up its {options.notebook_timeout} s: "
            f"{len(found[NOT_RUN])} cell(s) from {found[NOT_RUN][0]} on were not run"
        )
    if found.get(OUTPUT_TOO_LARGE):
        cells = list(dict.fromkeys(found[OUTPUT_TOO_LARGE]))
        messages.append(
            f"output too large in {', '.join(cells[:3])}{' and later cells' if len(cells) > 3 else ''}: "
            "it was cut (the points do not depend on it)"
        )
    status = (
        statuses.ERROR
        if KERNEL_DIED in found
        else statuses.TIMEOUT
        if CELL_TIMEOUT in found or NOT_RUN in found
        else statuses.OUTPUT_TOO_LARGE
        if found
        else statuses.GRADED
    )
    return status, "; ".join(messages)
