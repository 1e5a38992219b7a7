"""nbgrader's Execute for autograde (it runs in nbgrader's process): a student's notebook run in
the sandboxed kernel, for the feedback, made to survive what a submission can do.


nbgrader's autograde runs a notebook's cells one after the other in one kernel, with a timeout
per cell. Here that run makes the feedback (the student's outputs, the visible checks, the
plots); no point comes from it (``autograder.pipeline.scorer`` scores every graded cell outside the
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

``nbgrader_config.py`` puts ``GradingExecute`` in place of nbgrader's ``Execute``; the pipeline's
execute step (``autograder.pipeline.execute``: one nbgrader autograde per student) reads the marks
(``marks``) back from the autograded notebooks to set each one's status and message, and keeps a
hard limit on the whole run. The limits are set by the pipeline in the student's nbgrader config.
"""

from __future__ import annotations

import asyncio
import enum
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
from autograder.nbgrader_process.marks import (
    CELL_TIMEOUT,
    HIDDEN_NOTE,
    KERNEL_DIED,
    MAX_CELL_OUTPUT,
    MAX_MESSAGE_BYTES,
    MAX_NOTEBOOK_OUTPUT,
    NOT_RUN,
    OUTPUT_TOO_LARGE,
)
from autograder.outputs import error_output


class Cut(enum.Enum):
    """Why outputs are being dropped (each says so in the cell, ``Cut.says``)."""

    CELL = "cell"  # this cell passed its output limit: it was stopped (the next cell starts afresh)
    NOTEBOOK = "notebook"  # the notebook passed its limit: every later cell's outputs are dropped
    MESSAGE = "message"  # one message over MAX_MESSAGE_BYTES was refused by the socket
    ENCODING = "encoding"  # the kernel ran out of memory encoding an output


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
    bounded = _bounded_socket(ConnectionFileMixin._create_connected_socket)
    bounded.bounded = True
    ConnectionFileMixin._create_connected_socket = bounded  # type: ignore[method-assign]


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
    max_cell_output = Integer(
        MAX_CELL_OUTPUT, help="Bytes of output a cell may keep; past it the cell is stopped."
    ).tag(config=True)
    max_notebook_output = Integer(MAX_NOTEBOOK_OUTPUT, help="Bytes of output the whole notebook may keep.").tag(
        config=True
    )

    _deadline: float | None = None
    _asked_exit = False
    _monitor: zmq.Socket | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = None if self.notebook_timeout is None else time.monotonic() + self.notebook_timeout
        self.timeout_func = self._cell_timeout
        self._notebook_bytes = 0
        self._cell_bytes, self._cut, self._interrupted = 0, None, False
        return super().preprocess(nb, resources, km)

    # ------------------------------------------------------------------ output, bounded
    def _count(self, msg) -> bool:
        """Count one output message; False when it must be dropped (a limit was reached)."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self._cut is not None:
            return False
        if self._cell_bytes + size > self.max_cell_output:
            self._cut = Cut.CELL
            self._interrupt()
            return False
        if self._notebook_bytes + size > self.max_notebook_output:
            self._cut = Cut.NOTEBOOK
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

    def _says(self, cut: Cut) -> str:
        """What a cut says in the cell."""
        return {
            Cut.CELL: f"this cell's output passed {self.max_cell_output / 1024**2:.0f} MB: the rest was not kept, "
            "and the cell was stopped",
            Cut.NOTEBOOK: f"the notebook's outputs passed {self.max_notebook_output / 1024**2:.0f} MB: the outputs "
            "of this cell and the cells after it were not kept",
            Cut.MESSAGE: f"this cell sent an output larger than {MAX_MESSAGE_BYTES / 1024**2:.0f} MB in one piece: "
            "it was not kept",
            Cut.ENCODING: "this cell's output was too large for the kernel to send (it ran out of memory encoding "
            "it): it was not kept",
        }[cut]

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
        if is_hidden_test_cell(cell):  # scored outside the kernel (autograder.pipeline.scorer): never run here
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
        if self._cut is not Cut.NOTEBOOK:
            self._cut = None  # a cell's own limit: the next cell starts afresh
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
                self._cut = self._cut or Cut.MESSAGE
            else:
                self._restart_after(cell, CELL_TIMEOUT, "this cell ran out of time and did not stop when interrupted")
        else:
            if self._asked_exit:
                self._restart_after(cell, KERNEL_DIED, "exit() in this cell stopped the kernel")
        if self._dropped_messages():
            self._cut = self._cut or Cut.MESSAGE
        if choked_traceback_removed(cell):  # ipykernel's traceback of a print of a gigabyte
            self._cut = self._cut or Cut.ENCODING
        if self._cut is Cut.MESSAGE:
            run_sync(self._reconnected)()  # the outputs of the next cell must not be lost in turn
        if self._cut is not None:
            cell.outputs.append(error_output(OUTPUT_TOO_LARGE, self._says(self._cut)))
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
