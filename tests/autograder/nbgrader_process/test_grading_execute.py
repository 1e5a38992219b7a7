"""GradingExecute, nbgrader's Execute step made to survive a dead kernel and a spent time budget,
on tiny notebooks in a plain kernel (the sandboxed, end-to-end version is in test_grade_limits)."""

import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.nbgrader_process.grading_execute import GradingExecute
from autograder.nbgrader_process.marks import CELL_TIMEOUT, HIDDEN_NOTE, KERNEL_DIED, NOT_RUN, OUTPUT_TOO_LARGE

TEST_CELL = {"nbgrader": {"grade": True, "solution": False, "grade_id": "x_hidden", "points": 4, "locked": True}}
ANSWER_CELL = {"nbgrader": {"grade": False, "solution": True, "grade_id": "x_solution", "locked": False}}


def run(sources, **settings):
    """Run code cells; a source given as (source, metadata) gets that cell metadata."""
    nb = new_notebook(
        cells=[new_code_cell(s) if isinstance(s, str) else new_code_cell(s[0], metadata=s[1]) for s in sources]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    GradingExecute(kernel_name="python3", **settings).preprocess(nb, {})
    return nb


def errors(cell):
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def text(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.mark.slow
def test_a_dead_kernel_marks_its_cell_and_the_rest_runs_in_a_new_kernel():
    nb = run(
        ["x = 1", "import os\nos._exit(1)", "print('x' in globals())", "exit()", "print('still here')"], timeout=30
    )
    assert errors(nb.cells[1]) == [KERNEL_DIED]
    assert text(nb.cells[2]).strip() == "False"  # a new kernel: the state before the death is gone
    assert errors(nb.cells[3]) == [KERNEL_DIED]  # exit() stops the kernel after its cell: blamed on it
    assert errors(nb.cells[4]) == [] and text(nb.cells[4]).strip() == "still here"


@pytest.mark.slow
def test_a_cell_that_ignores_the_interrupt_is_stopped_by_a_restart():
    nb = run(
        [
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.1)",
            "print('next')",
        ],
        timeout=2,
    )
    assert errors(nb.cells[0]) == [CELL_TIMEOUT]
    assert text(nb.cells[1]).strip() == "next"


def test_a_cells_timeout_is_cut_to_what_is_left_of_the_notebooks_budget():
    """nbclient asks for each cell's timeout as the cell starts: the cell's own, or what is left of
    the notebook's budget (rounded up, at least a second), whichever is shorter."""
    ex = GradingExecute(kernel_name="python3", timeout=30, notebook_timeout=100)
    assert ex._cell_timeout(None) == 30  # no run under way: no deadline yet
    for left, expected in [(500.0, 30), (4.5, 5), (-3.0, 1)]:
        ex._deadline = time.monotonic() + left
        assert ex._cell_timeout(None) == expected, left


@pytest.mark.slow
def test_cells_past_the_notebook_budget_are_not_run_and_marked():
    """A cell still running when the budget (kernel start included) is spent is interrupted; the
    cells after it are not run and say why. (Its timeout, cut to the budget: the test above; no
    cell here ends near the deadline, so a slow kernel start changes nothing.)"""
    nb = run(
        ["print('first')", "import time\ntime.sleep(600)", "print('late')", ""],
        timeout=60,
        notebook_timeout=10,
    )
    assert text(nb.cells[0]).strip() == "first"
    assert errors(nb.cells[1])[-1] == CELL_TIMEOUT
    assert errors(nb.cells[2]) == [NOT_RUN] and "used up its 10 s" in nb.cells[2].outputs[0].evalue
    assert nb.cells[3].outputs == []  # nothing to run: nothing to mark
    nbformat.validate(nb)


def test_hidden_test_cells_are_not_run_in_the_kernel():
    """Scores come from autograder.score; nothing of the hidden checks is loaded where students' code runs."""
    nb = run(
        ["x = 1", ("### BEGIN HIDDEN TESTS\nprint('ran in the kernel')\n### END HIDDEN TESTS", TEST_CELL), "print(x)"],
        timeout=30,
    )
    assert text(nb.cells[1]) == HIDDEN_NOTE and nb.cells[1].execution_count is None
    assert text(nb.cells[2]).strip() == "1"


def test_an_answer_that_holds_the_markers_runs_like_any_cell():
    """Hidden test cells are known by their metadata: nbgrader's markers in a student's comment or
    string are the student's text."""
    source = "# ### BEGIN HIDDEN TESTS\nNOTE = '### END HIDDEN TESTS'\nprint('the answer ran')"
    nb = run([(source, ANSWER_CELL), (source, {})], timeout=30)
    assert text(nb.cells[0]).strip() == "the answer ran" and text(nb.cells[1]).strip() == "the answer ran"


@pytest.mark.slow
def test_a_flood_of_output_is_cut_the_cell_stopped_and_the_kernel_kept():
    """Line by line past the cell's limit: the rest is dropped, the cell interrupted, the kernel (and
    what it defined) kept for the cells after it; the notebook stays small."""
    nb = run(
        ["x = 1", "for i in range(10**8):\n    print('flood', i)", "print('after', x)"],
        timeout=60,
        max_cell_output=200_000,
    )
    assert OUTPUT_TOO_LARGE in errors(nb.cells[1]) and KERNEL_DIED not in errors(nb.cells[1])
    assert len(nbformat.writes(nb)) < 600_000
    assert text(nb.cells[2]).strip() == "after 1"


@pytest.mark.slow
def test_one_message_too_large_is_dropped_before_it_is_read_and_the_next_cells_keep_their_outputs():
    """ZeroMQ refuses the message (MAX_MESSAGE_BYTES) and closes the output channel, which is made
    again: the cell says what happened, it is not taken for a time-out, and nothing else is lost."""
    from autograder.nbgrader_process.marks import MAX_MESSAGE_BYTES

    nb = run(["x = 1", f"print('y' * {MAX_MESSAGE_BYTES + 1000})", "print('still', x)"], timeout=60)
    assert errors(nb.cells[1]) == [OUTPUT_TOO_LARGE] and "in one piece" in nb.cells[1].outputs[-1].evalue
    assert text(nb.cells[2]).strip() == "still 1"


def test_the_notebooks_outputs_are_bounded_as_a_whole():
    nb = run(
        ["print('a' * 150_000)", "print('b' * 150_000)", "print('c')"],
        timeout=30,
        max_cell_output=200_000,
        max_notebook_output=250_000,
    )
    assert errors(nb.cells[0]) == [] and OUTPUT_TOO_LARGE in errors(nb.cells[1])
    assert OUTPUT_TOO_LARGE in errors(nb.cells[2]) and "cells after it were not kept" in nb.cells[2].outputs[-1].evalue


CHOKED = (
    "ERROR:tornado.application:Exception in callback functools.partial(<bound method OutStream._flush>)\n"
    "Traceback (most recent call last):\n"
    '  File "/venv/site-packages/ipykernel/iostream.py", line 739, in _flush\n'
    "    self.session.send(\n"
    '  File "/usr/lib/python3.11/json/encoder.py", line 258, in iterencode\n'
    "MemoryError\n"
)


@pytest.mark.parametrize("cut", [None, 40, 150, len(CHOKED) - 5])
def test_the_kernels_traceback_of_an_output_it_could_not_send_is_removed_in_one_piece_or_several(cut):
    from nbformat import NotebookNode

    from autograder.nbgrader_process.grading_execute import choked_traceback_removed

    def stderr(text):
        return NotebookNode(output_type="stream", name="stderr", text=text)

    pieces = [CHOKED] if cut is None else [CHOKED[:cut], CHOKED[cut:]]
    mine = NotebookNode(output_type="stream", name="stdout", text="before\n")
    cell = NotebookNode(outputs=[mine, stderr("a warning of the student's\n"), *map(stderr, pieces), stderr("after\n")])
    assert choked_traceback_removed(cell)
    assert cell.outputs == [mine, stderr("a warning of the student's\nafter\n")]


def test_a_memory_error_of_the_students_own_is_kept():
    from nbformat import NotebookNode

    from autograder.nbgrader_process.grading_execute import choked_traceback_removed

    own = NotebookNode(output_type="stream", name="stderr", text="Traceback (most recent call last):\nMemoryError\n")
    cell = NotebookNode(outputs=[own])
    assert not choked_traceback_removed(cell) and cell.outputs == [own]
