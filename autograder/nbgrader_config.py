# nbgrader settings shared by every command of the course (release, grade).
# The course directory itself (CourseDirectory.root) is given on the command line: the commands
# build it under build/ from solutions/, so the repository keeps a single source.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "actor-critic-rl"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading runs every notebook in fast mode (nbgrader sets NBGRADER_EXECUTION, which
# course_lib.runtime.fast_mode() reads); a cell that still runs this long is stuck.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# autograde runs the cells with GradingExecute, nbgrader's Execute that survives a dead kernel and
# stops at the notebook's time budget (c.GradingExecute.notebook_timeout) without losing the cells
# that finished (autograder/pipeline/execute.py says how).
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from autograder.pipeline.execute import GradingExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    GradingExecute if p is Execute else p for p in Autograde.autograde_preprocessors.default()
]

# Feedback shows each test cell's source: strip the hidden-test blocks first (they only call
# autograder.hidden, but students need not see even that).
# Only the graded test cells' blocks: an answer that holds the markers in a comment is the student's.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.pipeline.report import ClearHiddenTestsOfTestCells  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTestsOfTestCells, CSSHTMLHeaderPreprocessor]
