"""The feedback's preprocessor (``nbgrader generate_feedback``): the hidden tests stripped from
the graded test cells, and only from them."""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests

from autograder.cells import is_test_cell


class ClearHiddenTestsOfTestCells(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for the feedback, on graded test cells only: an answer cell that
    holds the markers in a comment or a string is the student's text, shown as it is (the original
    fails the whole feedback page on such a cell)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if is_test_cell(cell):
            return super().preprocess_cell(cell, resources, cell_index)
        return cell, resources
