"""What runs inside nbgrader's own processes (``nbgrader autograde`` and ``generate_feedback``,
started by the pipeline), apart from the pipeline's host steps.

* ``nbgrader_config.py``: the course's nbgrader settings (not a module: nbgrader runs it, from the
  copy in each course folder, which the pipeline extends with the run's limits);
* ``grading_execute``: the Execute preprocessor of autograde, made to survive what a submission can do;
* ``feedback``: the preprocessor that strips the hidden tests from the feedback;
* ``marks``: the error outputs these write into a notebook, which the pipeline reads back.

These modules import nbgrader, nbclient and ``autograder.cells`` only: an nbgrader process loads
nothing of the pipeline.
"""
