"""The feedback's preprocessor strips the hidden tests from graded test cells, and only from them:
an answer that holds nbgrader's markers in a comment is the student's text, shown as it is (the
class test once graded such a student end to end; nbgrader's own preprocessor failed the page)."""

from nbformat.v4 import new_code_cell, new_notebook

from autograder.nbgrader_process.feedback import ClearHiddenTestsOfTestCells

ANSWER = {"nbgrader": {"grade": False, "solution": True, "grade_id": "x_solution", "locked": False}}
TEST = {"nbgrader": {"grade": True, "solution": False, "grade_id": "x_hidden", "points": 4, "locked": True}}


def test_hidden_tests_are_stripped_from_test_cells_only():
    answer = "def f():\n    # ### BEGIN HIDDEN TESTS\n    return 1\n    # ### END HIDDEN TESTS\n"
    test = "# Hidden checks\n### BEGIN HIDDEN TESTS\nfrom autograder.hidden import nb01\n### END HIDDEN TESTS\n"
    nb = new_notebook(cells=[new_code_cell(answer, metadata=ANSWER), new_code_cell(test, metadata=TEST)])
    nb, _ = ClearHiddenTestsOfTestCells().preprocess(nb, {})
    assert nb.cells[0].source == answer
    assert "autograder" not in nb.cells[1].source and "BEGIN HIDDEN" not in nb.cells[1].source
    assert nb.cells[1].source.startswith("# Hidden checks")
