"""GradingExecute, nbgrader's Execute step made to survive a dead kernel and a spent time budget,
on tiny notebooks in a plain kernel (the sandboxed, end-to-end version is in test_grade_class)."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder.execute import CELL_TIMEOUT, HIDDEN_NOTE, KERNEL_DIED, NOT_RUN, GradingExecute


def run(sources, **settings):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    GradingExecute(kernel_name="python3", **settings).preprocess(nb, {})
    return nb


def errors(cell):
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def text(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


def test_a_dead_kernel_marks_its_cell_and_the_rest_runs_in_a_new_kernel():
    nb = run(["x = 1", "import os\nos._exit(1)", "print('x' in globals())", "exit()", "print('still here')"],
             timeout=30)
    assert errors(nb.cells[1]) == [KERNEL_DIED]
    assert text(nb.cells[2]).strip() == "False"  # a new kernel: the state before the death is gone
    assert errors(nb.cells[3]) == [KERNEL_DIED]  # exit() stops the kernel after its cell: blamed on it
    assert errors(nb.cells[4]) == [] and text(nb.cells[4]).strip() == "still here"


def test_a_cell_that_ignores_the_interrupt_is_stopped_by_a_restart():
    nb = run(["import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.1)",
              "print('next')"], timeout=2)
    assert errors(nb.cells[0]) == [CELL_TIMEOUT]
    assert text(nb.cells[1]).strip() == "next"


def test_cells_past_the_notebook_budget_are_not_run_and_marked():
    nb = run(["print('first')", "import time\ntime.sleep(3)", "import time\ntime.sleep(3)", "print('late')", ""],
             timeout=30, notebook_timeout=5)
    assert text(nb.cells[0]).strip() == "first" and errors(nb.cells[1]) == []
    assert errors(nb.cells[2])[-1] == CELL_TIMEOUT  # interrupted: its timeout was cut to what was left of 5 s
    assert errors(nb.cells[3]) == [NOT_RUN] and "used up its 5 s" in nb.cells[3].outputs[0].evalue
    assert nb.cells[4].outputs == []  # nothing to run: nothing to mark
    nbformat.validate(nb)


def test_hidden_test_cells_are_not_run_in_the_kernel():
    """Scores come from autograder.score; nothing of the hidden checks is loaded where students' code runs."""
    nb = run(["x = 1", "### BEGIN HIDDEN TESTS\nprint('ran in the kernel')\n### END HIDDEN TESTS", "print(x)"], timeout=30)
    assert text(nb.cells[1]) == HIDDEN_NOTE and nb.cells[1].execution_count is None
    assert text(nb.cells[2]).strip() == "1"
