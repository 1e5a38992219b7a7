# nbgrader settings shared by every command of the course (release, grade).
# The course directory itself (CourseDirectory.root) is given on the command line: the commands
# build it under build/ from solutions/, so the repository keeps a single source. What runs here,
# in nbgrader's processes, lives here, in autograder/nbgrader_process/ (it loads nothing of the pipeline).
c = get_config()  # type: ignore[name-defined]  # noqa: F821

c.CourseDirectory.course_id = "actor-critic-rl"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading runs every notebook in fast mode (nbgrader sets NBGRADER_EXECUTION, which
# course_lib.runtime.fast_mode() reads). The timeouts (a cell's, a notebook's) are the grading run's
# options (autograder.pipeline.job.Options): each student's course folder gets them in its own config.
c.Execute.interrupt_on_timeout = True

# autograde runs the cells with GradingExecute, nbgrader's Execute that survives a dead kernel and
# stops at the notebook's time budget without losing the cells that finished.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from autograder.nbgrader_process.grading_execute import GradingExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    GradingExecute if p is Execute else p for p in Autograde.autograde_preprocessors.default()
]

# Feedback shows each test cell's source: strip the hidden-test blocks first (they only call
# autograder.hidden, but students need not see even that).
# Only the graded test cells' blocks: an answer that holds the markers in a comment is the student's.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.nbgrader_process.feedback import ClearHiddenTestsOfTestCells  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTestsOfTestCells, CSSHTMLHeaderPreprocessor]
