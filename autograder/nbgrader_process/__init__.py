"""What runs inside nbgrader's own processes (``nbgrader autograde`` and ``generate_feedback``,
started by the pipeline with ``autograder/nbgrader_config.py``), apart from the pipeline's host steps.

* ``grading_execute``: the Execute preprocessor of autograde, made to survive what a submission can do;
* ``feedback``: the preprocessor that strips the hidden tests from the feedback;
* ``marks``: the error outputs these write into a notebook, which the pipeline reads back.

These modules import nbgrader, nbclient and ``autograder.cells`` only: an nbgrader process loads
nothing of the pipeline.
"""
