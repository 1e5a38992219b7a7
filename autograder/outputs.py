"""A notebook's outputs as Jupyter writes them: what the grader puts in a cell (nbgrader's process,
the scorer) for the feedback to show."""

from __future__ import annotations

from nbformat import NotebookNode


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output (what the feedback shows in red under a cell)."""
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )
